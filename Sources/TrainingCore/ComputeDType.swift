import CTrainingKernels

/// The precision a forward pass computes in. `bf16` reproduces what transformers computes with a
/// model loaded in bfloat16: every op's output is rounded to bf16 where torch's would be a bf16
/// tensor, while products accumulate in f32 as torch's CPU kernels do (a product of two bf16
/// values is exact in f32). Gradients stay f32 and pass the roundings unchanged.
public enum ComputeDType: String, Sendable, CaseIterable, Codable {
    case f32, bf16

    /// config.json's choice: `quantization_config.bnb_4bit_compute_dtype` for a 4-bit folder, else
    /// `torch_dtype` (`dtype` in transformers 5); f32 for anything else (f16 computes in f32 here).
    public static func `default`(config: [String: Any]) -> ComputeDType {
        let quantization = config["quantization_config"] as? [String: Any]
        let name = quantization?["bnb_4bit_compute_dtype"] as? String ?? config["torch_dtype"] as? String ?? config["dtype"] as? String
        return name == "bfloat16" ? .bf16 : .f32
    }
}

/// `value` rounded to bf16 precision as torch casts (nearest, ties to even; NaN stays NaN), inlined
/// for loops that round each element (the C kernel serves whole buffers).
@inline(__always)
func roundedToBF16(_ value: Float) -> Float {
    let bits = value.bitPattern
    guard bits & 0x7FFF_FFFF <= 0x7F80_0000 else { return Float(bitPattern: (bits | 0x0040_0000) & 0xFFFF_0000) }
    return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
}

extension Graph {
    /// Whether op outputs are rounded to bf16.
    public var roundsToBF16: Bool { computeDType == .bf16 }

    /// Rounds an op's fresh output to the pass's precision (nothing in f32).
    public func roundToComputeDType(_ tensor: Tensor) {
        guard roundsToBF16 else { return }
        roundToBF16(tensor.data, count: tensor.count)
    }

    /// `serial`: from inside a parallel region (one core's own buffer).
    func roundToBF16(_ values: UnsafeMutablePointer<Float>, count: Int, serial: Bool = false) {
        guard !serial else { return tk_round_bf16(values, Int64(count)) }
        Parallel.forRanges(count, grain: 1 << 15) { r in tk_round_bf16(values + r.lowerBound, Int64(r.count)) }
    }
}
