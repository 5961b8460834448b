import Foundation
import Quantization

/// Lossy storage of an adapter's factors below 16 bits. What is stored is the codes and scales;
/// export dequantizes them back to the tensor's own dtype, so the exported folder is an ordinary
/// PEFT adapter (PEFT cannot load int8 or 4-bit LoRA factors).
///   int8: one f32 scale (absmax / 127) per row (the first dimension; a vector is one row), codes
///         round(x / scale) as signed bytes. Payload: scales, then codes.
///   nf4:  bitsandbytes' NF4 in blocks of 64 over the flattened tensor, no double quantization.
///         Payload: block count u32, absmax f32 per block, packed codes.
public enum FactorQuantization: String, Sendable, CaseIterable {
    case int8, nf4

    public func encode(_ values: [Float], shape: [Int], tensor: String) throws -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .int8:
            let rows = shape.count >= 2 ? shape[0] : 1, columns = values.count / max(rows, 1)
            var scales = [Float](repeating: 0, count: rows)
            var codes = [UInt8](repeating: 0, count: values.count)
            for row in 0..<rows {
                let slice = values[(row * columns)..<((row + 1) * columns)]
                let scale = (slice.map { abs($0) }.max() ?? 0) / 127
                scales[row] = scale
                for (offset, value) in slice.enumerated() {
                    let code = scale == 0 ? 0 : max(-127, min(127, (value / scale).rounded()))
                    codes[row * columns + offset] = UInt8(bitPattern: Int8(code))
                }
            }
            scales.withUnsafeBytes { out += $0 }
            out += codes
        case .nf4:
            let weight: QuantizedWeight
            do {
                weight = try values.withUnsafeBufferPointer {
                    try QuantizedWeight.quantize(
                        $0, shape: [values.count], originalDType: .f32, type: .nf4, blockSize: 64,
                        doubleQuantization: false, tensor: tensor, file: "adapter")
                }
            } catch {
                // Its own error names the tensor inside a placeholder file; ours names the tensor alone.
                throw RegistryError(file: tensor, (error as? QuantizationError)?.message ?? "\(error)")
            }
            let absmax = weight.absmax ?? []
            TensorCodec.append(UInt32(absmax.count), to: &out)
            absmax.withUnsafeBytes { out += $0 }
            out += weight.packed
        }
        return out
    }

    public func decode(_ payload: [UInt8], count: Int, shape: [Int], tensor: String) throws -> [Float] {
        switch self {
        case .int8:
            let rows = shape.count >= 2 ? shape[0] : 1, columns = count / max(rows, 1)
            guard payload.count == rows * 4 + count else {
                throw RegistryError(file: tensor, "int8 payload has \(payload.count) bytes")
            }
            let scales = payload.withUnsafeBytes { raw in (0..<rows).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
            return (0..<count).map { Float(Int8(bitPattern: payload[rows * 4 + $0])) * scales[$0 / max(columns, 1)] }
        case .nf4:
            guard payload.count >= 4 else { throw RegistryError(file: tensor, "nf4 payload is truncated") }
            let blocks = Int(TensorCodec.read(UInt32.self, payload, at: 0))
            let packedCount = (count + 1) / 2
            guard blocks == (count + 63) / 64, payload.count == 4 + blocks * 4 + packedCount else {
                throw RegistryError(file: tensor, "nf4 payload does not fit \(count) values")
            }
            let absmax = payload.withUnsafeBytes { raw in
                (0..<blocks).map { raw.loadUnaligned(fromByteOffset: 4 + $0 * 4, as: Float.self) }
            }
            let weight = QuantizedWeight(
                quantType: .nf4, blockSize: 64, shape: [count], originalDType: .f32,
                packed: Array(payload[(4 + blocks * 4)...]), absmax: absmax, nested: nil,
                quantMap: QuantType.nf4.codebook.values)
            return weight.dequantized()
        }
    }
}
