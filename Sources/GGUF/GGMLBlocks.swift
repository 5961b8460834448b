import Foundation
import SafeTensors

/// ggml's block formats, encoded and decoded bit for bit as the `gguf` package's reference
/// (`gguf.quants`) does: F32, F16, BF16, Q8_0 and Q4_0; Q4_K and Q6_K (what llama.cpp's Q4_K_M
/// files hold) decoded only.
public enum GGMLBlocks {
    /// The types ``quantize(_:type:)`` writes, and those ``dequantize(_:type:count:file:tensor:)`` reads.
    public static let writable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0]
    public static let decodable: [GGMLType] = writable + [.q4_K, .q6_K]

    /// Encodes `values` (a multiple of the type's block size) as `type`.
    public static func quantize(_ values: [Float], type: GGMLType) -> [UInt8] {
        precondition(values.count % type.blockSize == 0, "\(values.count) values do not fill \(type.name) blocks")
        var out = [UInt8](repeating: 0, count: type.bytes(forValues: values.count))
        out.withUnsafeMutableBytes { raw in
            switch type {
            case .f32:
                for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            case .f16:
                for (i, v) in values.enumerated() {
                    raw.storeBytes(of: FloatEncoding.float16(fromFloat: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            case .bf16:
                for (i, v) in values.enumerated() { raw.storeBytes(of: bfloat16(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            case .q8_0:
                for block in 0..<(values.count / 32) { q8_0(values[(block * 32)..<(block * 32 + 32)], into: raw, at: block * 34) }
            case .q4_0:
                for block in 0..<(values.count / 32) { q4_0(values[(block * 32)..<(block * 32 + 32)], into: raw, at: block * 18) }
            default:
                preconditionFailure("\(type.name) is not written")
            }
        }
        return out
    }

    /// gguf's BF16: round to nearest even, a NaN kept quiet.
    static func bfloat16(_ value: Float) -> UInt16 {
        var bits = value.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 { bits = (bits & 0xffff_0000) | (64 << 16) }
        return UInt16(truncatingIfNeeded: (UInt64(bits) + 0x7fff + UInt64((bits >> 16) & 1)) >> 16)
    }

    /// Rounds half away from zero, as gguf's `np_roundf`.
    static func roundHalfAway(_ x: Float) -> Float { x < 0 ? -(-x + 0.5).rounded(.down) : (x + 0.5).rounded(.down) }

    /// Q8_0: a block of 32 as an f16 scale (the largest magnitude / 127) and 32 int8 values.
    static func q8_0(_ block: ArraySlice<Float>, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        let d = (block.map(abs).max() ?? 0) / 127
        let inverse: Float = d == 0 ? 0 : 1 / d
        raw.storeBytes(of: FloatEncoding.float16(fromFloat: d).littleEndian, toByteOffset: offset, as: UInt16.self)
        for (i, x) in block.enumerated() {
            // A NaN in the block (the scale is then NaN too) is stored as 0 rather than trap.
            let q = roundHalfAway(x * inverse)
            let value = q.isNaN ? 0 : Int8(max(-128, min(127, q)))
            raw.storeBytes(of: UInt8(bitPattern: value), toByteOffset: offset + 2 + i, as: UInt8.self)
        }
    }

    /// Q4_0: a block of 32 as an f16 scale (the value of largest magnitude, with its sign, / −8)
    /// and 32 four-bit values, the first 16 in low nibbles. The product is taken in f64, as the
    /// reference does to reproduce ggml's fused multiply-add.
    static func q4_0(_ block: ArraySlice<Float>, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        var largest = block.startIndex
        for i in block.indices where abs(block[i]) > abs(block[largest]) { largest = i }
        let d = block[largest] / -8
        let inverse: Float = d == 0 ? 0 : 1 / d
        raw.storeBytes(of: FloatEncoding.float16(fromFloat: d).littleEndian, toByteOffset: offset, as: UInt16.self)
        let q = block.map { x -> UInt8 in
            let shifted = Float((Double(x) * Double(inverse) + 8.5).rounded(.towardZero))
            return shifted.isNaN ? 8 : UInt8(min(15, max(0, shifted)))
        }
        for i in 0..<16 { raw.storeBytes(of: q[i] | (q[i + 16] << 4), toByteOffset: offset + 2 + i, as: UInt8.self) }
    }

    /// Decodes `count` values of `type`.
    public static func dequantize(
        _ bytes: UnsafeRawBufferPointer, type: GGMLType, count: Int, file: String, tensor: String
    ) throws -> [Float] {
        precondition(bytes.count == type.bytes(forValues: count))
        func half(_ offset: Int) -> Float {
            FloatEncoding.float(fromFloat16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        }
        switch type {
        case .f32:
            return (0..<count).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        case .f16:
            return (0..<count).map { half(2 * $0) }
        case .bf16:
            return (0..<count).map {
                FloatEncoding.float(fromBFloat16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            }
        case .q8_0:
            var out = [Float](repeating: 0, count: count)
            for block in 0..<(count / 32) {
                let d = half(block * 34)
                for i in 0..<32 { out[block * 32 + i] = d * Float(Int8(bitPattern: bytes[block * 34 + 2 + i])) }
            }
            return out
        case .q4_0:
            var out = [Float](repeating: 0, count: count)
            for block in 0..<(count / 32) {
                let d = half(block * 18)
                for i in 0..<16 {
                    let byte = bytes[block * 18 + 2 + i]
                    out[block * 32 + i] = d * Float(Int(byte & 0x0f) - 8)
                    out[block * 32 + 16 + i] = d * Float(Int(byte >> 4) - 8)
                }
            }
            return out
        case .q4_K:
            return q4_K(bytes, count: count)
        case .q6_K:
            return q6_K(bytes, count: count)
        default:
            throw GGUFError(
                file: file, "tensor \(tensor) is \(type.name), which this version cannot decode (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)")
        }
    }

    /// Q4_K (ggml's llama.cpp "K-quant"): 256 values in 8 groups of 32, each group with a 6-bit
    /// scale and a 6-bit minimum (packed in 12 bytes) under the block's f16 `d` and `dmin`;
    /// a value is d·scale·q − dmin·min with q four bits. Decoded in ggml's order of operations.
    static func q4_K(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        for block in 0..<(count / 256) {
            let base = block * 144
            func half(_ offset: Int) -> Float {
                FloatEncoding.float(fromFloat16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: base + offset, as: UInt16.self)))
            }
            let (d, dmin) = (half(0), half(2))
            let scales = (0..<12).map { bytes[base + 4 + $0] }
            func scaleAndMin(_ j: Int) -> (Float, Float) {
                if j < 4 { return (Float(scales[j] & 63), Float(scales[j + 4] & 63)) }
                return (
                    Float((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4)), Float((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
                )
            }
            for group in 0..<4 {
                let (s1, m1) = scaleAndMin(2 * group), (s2, m2) = scaleAndMin(2 * group + 1)
                let (d1, min1, d2, min2) = (d * s1, dmin * m1, d * s2, dmin * m2)
                for l in 0..<32 {
                    let q = bytes[base + 16 + group * 32 + l]
                    out[block * 256 + group * 64 + l] = d1 * Float(q & 0x0f) - min1
                    out[block * 256 + group * 64 + 32 + l] = d2 * Float(q >> 4) - min2
                }
            }
        }
        return out
    }

    /// Q6_K: 256 six-bit values (low four bits in `ql`, high two in `qh`) in 16 groups of 16,
    /// each with an int8 scale, under the block's f16 `d`: a value is d·scale·(q − 32).
    static func q6_K(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        for block in 0..<(count / 256) {
            let base = block * 210
            let d = FloatEncoding.float(fromFloat16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 208, as: UInt16.self)))
            for half in 0..<2 {
                let (ql, qh, sc) = (base + half * 64, base + 128 + half * 32, base + 192 + half * 8)
                for l in 0..<32 {
                    let group = l / 16
                    let low0 = bytes[ql + l], low32 = bytes[ql + l + 32], high = bytes[qh + l]
                    let q1 = Int((low0 & 0x0f) | ((high & 3) << 4)) - 32
                    let q2 = Int((low32 & 0x0f) | (((high >> 2) & 3) << 4)) - 32
                    let q3 = Int((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32
                    let q4 = Int((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32
                    func scale(_ i: Int) -> Float { d * Float(Int8(bitPattern: bytes[sc + group + i])) }
                    let y = block * 256 + half * 128
                    out[y + l] = scale(0) * Float(q1)
                    out[y + l + 32] = scale(2) * Float(q2)
                    out[y + l + 64] = scale(4) * Float(q3)
                    out[y + l + 96] = scale(6) * Float(q4)
                }
            }
        }
        return out
    }
}
