/// Bit-level conversions between f32 and the narrow float formats, with PyTorch's semantics on
/// this machine's CPU path (`tensor.to(dtype)` over contiguous tensors): round to nearest even
/// everywhere, and NaN/overflow handled per format as documented on each function.
/// `fixtures/dtype-conversion/` holds torch's outputs these are checked against exhaustively.
public enum FloatEncoding {
    // MARK: f32 -> narrow

    /// f32 → bfloat16: round to nearest even; overflow rounds to ±Inf; every NaN becomes
    /// 0xFFFF, as torch's vectorised AVX2/AVX-512 kernel writes it.
    @inline(__always)
    public static func bfloat16(fromFloat value: Float) -> UInt16 {
        // Branch-free integer form so the bulk loops vectorise.
        let bits = value.bitPattern
        let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        return (bits & 0x7FFF_FFFF) > 0x7F80_0000 ? 0xFFFF : rounded
    }

    /// bfloat16 encoding of an f32 for the paths where torch goes through its scalar
    /// `c10::BFloat16` constructor (e.g. from f16): NaN becomes the canonical 0x7FC0.
    @inline(__always)
    public static func bfloat16ScalarPath(fromFloat value: Float) -> UInt16 {
        value.isNaN ? 0x7FC0 : bfloat16(fromFloat: value)
    }

    /// f32 → IEEE half, as the F16C `vcvtps2ph` instruction rounds: nearest even, overflow to
    /// ±Inf, subnormals rounded, NaN quieted with the top payload bits and the sign kept.
    @inline(__always)
    public static func float16(fromFloat value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 {
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x03FF)
        }
        if magnitude >= 0x4780_0000 { return sign | 0x7C00 }  // ≥ 65536 (incl. Inf): overflow
        if magnitude >= 0x3880_0000 {
            // Normal half: rebias exponent (127 → 15) and round the 13 dropped bits.
            let rebased = magnitude &- 0x3800_0000
            let rounded = rebased &+ 0x0FFF &+ ((rebased >> 13) & 1)
            return sign | UInt16(truncatingIfNeeded: rounded >> 13)  // may carry into Inf: correct
        }
        if magnitude < 0x3300_0000 { return sign }  // below half the smallest subnormal: ±0
        // Subnormal half: value = m × 2^-24. Shift the implicit-1 mantissa and round.
        let exponent = Int(magnitude >> 23)
        let mantissa = (magnitude & 0x007F_FFFF) | 0x0080_0000
        let shift = UInt32(126 - exponent)  // 14 ... 24
        let kept = mantissa >> shift
        let remainder = mantissa & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        let roundUp = remainder > halfway || (remainder == halfway && (kept & 1) == 1)
        return sign | UInt16(kept + (roundUp ? 1 : 0))
    }

    /// f32 → float8 e4m3fn (safetensors `F8_E4M3`): nearest even; finite values beyond the
    /// largest (448) and ±Inf saturate to ±448; NaN becomes 0x7F with the sign kept.
    @inline(__always)
    public static func float8E4M3(fromFloat value: Float) -> UInt8 {
        let bits = value.bitPattern
        let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return sign | 0x7F }
        if magnitude >= 0x43E0_0000 { return sign | 0x7E }  // ≥ 448 (incl. Inf): saturate
        if magnitude < 0x3C80_0000 {
            // Below 2^-6: subnormal grid of step 2^-9. Adding 2^14 (whose f32 ulp is 2^-9) makes
            // the FPU round to that grid, ties to even; the low mantissa bits are the code.
            let shifted = Float(bitPattern: magnitude) + Float(bitPattern: 0x4680_0000)
            return sign | UInt8(truncatingIfNeeded: shifted.bitPattern &- 0x4680_0000)
        }
        let odd = (magnitude >> 20) & 1
        let rounded = magnitude &+ 0xC407_FFFF &+ odd  // rebias 127 → 7, round 20 dropped bits
        return sign | UInt8(truncatingIfNeeded: rounded >> 20)
    }

    /// f32 → float8 e5m2 (safetensors `F8_E5M2`): nearest even; overflow and ±Inf give ±Inf
    /// (0x7C); NaN becomes 0x7F with the sign kept.
    @inline(__always)
    public static func float8E5M2(fromFloat value: Float) -> UInt8 {
        let bits = value.bitPattern
        let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return sign | 0x7F }
        if magnitude >= 0x4780_0000 { return sign | 0x7C }  // ≥ 65536 (incl. Inf)
        if magnitude < 0x3880_0000 {
            // Below 2^-14: subnormal grid of step 2^-16; adding 2^7 (f32 ulp 2^-16) rounds to it.
            let shifted = Float(bitPattern: magnitude) + Float(bitPattern: 0x4300_0000)
            return sign | UInt8(truncatingIfNeeded: shifted.bitPattern &- 0x4300_0000)
        }
        let odd = (magnitude >> 21) & 1
        let rounded = magnitude &+ 0xC80F_FFFF &+ odd  // rebias 127 → 15, round 21 dropped bits
        return sign | UInt8(truncatingIfNeeded: rounded >> 21)
    }

    // MARK: narrow -> f32

    /// bfloat16 → f32: exact (the 16 bits become the high half).
    @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// IEEE half → f32: exact; NaN keeps its sign and payload and is quieted (as `vcvtph2ps`).
    @inline(__always)
    public static func float(fromFloat16 bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits) & 0x03FF
        switch exponent {
        case 0x1F:
            if mantissa == 0 { return Float(bitPattern: sign | 0x7F80_0000) }
            return Float(bitPattern: sign | 0x7FC0_0000 | (mantissa << 13))
        case 0:
            // Subnormal or zero: exact in f32 as m × 2^-24.
            let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
            return Float(bitPattern: sign | magnitude.bitPattern)
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    /// float8 e4m3fn → f32: exact; 0x7F/0xFF are NaN (the format has no Inf) and decode, as in
    /// torch, to the f32 NaN whose top mantissa bits are the code's (0x7FF00000 with the sign).
    @inline(__always)
    public static func float(fromFloat8E4M3 byte: UInt8) -> Float {
        let sign = UInt32(byte & 0x80) << 24
        let exponent = UInt32(byte >> 3) & 0x0F
        let mantissa = UInt32(byte) & 0x07
        if exponent == 0x0F && mantissa == 0x07 { return Float(bitPattern: sign | 0x7FF0_0000) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(bitPattern: 0x3B00_0000)  // m × 2^-9
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | ((exponent + 120) << 23) | (mantissa << 20))
    }

    /// float8 e5m2 → f32: exact; it is the high byte of an IEEE half.
    @inline(__always)
    public static func float(fromFloat8E5M2 byte: UInt8) -> Float {
        float(fromFloat16: UInt16(byte) << 8)
    }
}
