import Foundation
import SafeTensors

/// ggml's block formats, encoded and decoded bit for bit as the `gguf` package's reference
/// (`gguf.quants`) does: F32, F16, BF16, Q8_0 and Q4_0.
public enum GGMLBlocks {
    /// The types ``quantize(_:type:)`` writes.
    public static let writable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0]

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
        default:
            throw GGUFError(file: file, "tensor \(tensor) is \(type.name), which this version cannot decode (F32, F16, BF16, Q8_0, Q4_0)")
        }
    }
}
