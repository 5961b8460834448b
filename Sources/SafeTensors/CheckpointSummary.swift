import Foundation

/// What `tailor inspect` reports about any checkpoint: sizes per dtype, element count, and what
/// kind of checkpoint it is (plain weights, a bitsandbytes 4-bit model, a PEFT adapter),
/// recognised from the tensor names and the files beside it. The Quantization module adds what
/// a 4-bit checkpoint holds (types, block sizes, logical shapes).
public struct CheckpointSummary: Sendable {
    /// The kinds of checkpoint told apart by their key conventions.
    public enum Kind: Sendable, Equatable {
        case weights
        /// Has `<weight>.quant_state.bitsandbytes__nf4|fp4` tensors.
        case bitsAndBytes4Bit
        /// A PEFT adapter; `peftType` from `adapter_config.json` when present.
        case peftAdapter(peftType: String?)

        public var label: String {
            switch self {
            case .weights: return "weights"
            case .bitsAndBytes4Bit: return "bitsandbytes-4bit"
            case .peftAdapter: return "peft-adapter"
            }
        }
    }

    public var checkpoint: Checkpoint
    public var kind: Kind
    /// Elements of every tensor summed (a packed 4-bit tensor counts its bytes).
    public var elementCount: Int
    public var bytesByDType: [DType: Int]
    public var totalTensorBytes: Int

    static let quantStateMarker = ".quant_state.bitsandbytes__"
    static let adapterMarkers = [
        ".lora_A.", ".lora_B.", ".lora_embedding_A", ".lora_embedding_B",
        ".lora_magnitude_vector", ".ia3_l", "prompt_embeddings", ".oft_r", ".boft_R",
    ]

    public init(_ checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        var bytes: [DType: Int] = [:]
        var total = 0
        var elements = 0
        for info in checkpoint.tensorInfos {
            bytes[info.dtype, default: 0] += info.byteCount
            total += info.byteCount
            elements += info.elementCount
        }
        bytesByDType = bytes
        totalTensorBytes = total
        elementCount = elements

        let adapterConfig = checkpoint.folder + "/adapter_config.json"
        if checkpoint.tensorNames.contains(where: { $0.contains(Self.quantStateMarker) }) {
            kind = .bitsAndBytes4Bit
        } else if FileManager.default.fileExists(atPath: adapterConfig)
            && checkpoint.files.contains(where: { $0.path.hasSuffix("adapter_model.safetensors") })
        {
            let config = (try? Data(contentsOf: URL(fileURLWithPath: adapterConfig)))
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            kind = .peftAdapter(peftType: config?["peft_type"] as? String)
        } else if checkpoint.tensorNames.contains(where: { name in Self.adapterMarkers.contains { name.contains($0) } }) {
            kind = .peftAdapter(peftType: nil)
        } else {
            kind = .weights
        }
    }
}
