import Foundation

/// What `tailor inspect` reports about a checkpoint: its tensors, sizes per dtype, parameter
/// count, and what kind of checkpoint it is (plain weights, a bitsandbytes 4-bit model, a PEFT
/// adapter), recognised from the tensor names and the files beside it.
public struct CheckpointSummary: Sendable {
    /// The kinds of checkpoint told apart by their key conventions.
    public enum Kind: Sendable, Equatable {
        case weights
        /// A bitsandbytes 4-bit checkpoint, with its quant types ("nf4", "fp4") and block sizes.
        case bitsAndBytes4Bit(quantTypes: [String], blockSizes: [Int], quantizedWeights: Int)
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
    /// Elements per tensor summed; a 4-bit weight counts its original elements (from its
    /// quant state), and its quantization statistics count as none.
    public var parameterCount: Int
    public var bytesByDType: [DType: Int]
    public var totalTensorBytes: Int

    static let quantStateSuffixes = [".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4"]
    static let quantStatisticsSuffixes = [".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"]
        + quantStateSuffixes
    static let adapterMarkers = [".lora_A.", ".lora_B.", ".lora_embedding_A", ".lora_embedding_B",
                                 ".lora_magnitude_vector", ".ia3_l", "prompt_embeddings", ".oft_r", ".boft_R"]

    public init(_ checkpoint: Checkpoint) throws(SafeTensorsError) {
        self.checkpoint = checkpoint
        var bytes: [DType: Int] = [:]
        var total = 0
        for info in checkpoint.tensorInfos {
            bytes[info.dtype, default: 0] += info.byteCount
            total += info.byteCount
        }
        bytesByDType = bytes
        totalTensorBytes = total

        // 4-bit weights: the quant state JSON (stored as U8 bytes) gives the original shape.
        var quantTypes = Set<String>()
        var blockSizes = Set<Int>()
        var quantizedOriginalElements: [String: Int] = [:]
        for name in checkpoint.tensorNames {
            guard let suffix = Self.quantStateSuffixes.first(where: { name.hasSuffix($0) }) else { continue }
            let weight = String(name.dropLast(suffix.count))
            let state = try checkpoint.tensor(name)
            guard let json = try? JSONSerialization.jsonObject(with: Data(state.bytes)) as? [String: Any] else {
                throw SafeTensorsError(file: state.file, tensor: name, .invalidTensor("bitsandbytes quant state is not a JSON object"))
            }
            quantTypes.insert(json["quant_type"] as? String ?? String(suffix.suffix(3)))
            if let blockSize = json["blocksize"] as? Int { blockSizes.insert(blockSize) }
            if let shape = json["shape"] as? [Int] { quantizedOriginalElements[weight] = shape.reduce(1, *) }
        }
        var parameters = 0
        for info in checkpoint.tensorInfos {
            if let original = quantizedOriginalElements[info.name] {
                parameters += original
            } else if !quantizedOriginalElements.isEmpty,
                      Self.quantStatisticsSuffixes.contains(where: { info.name.hasSuffix($0) }) {
                continue
            } else {
                parameters += info.elementCount
            }
        }
        parameterCount = parameters

        let adapterConfig = checkpoint.folder + "/adapter_config.json"
        if !quantizedOriginalElements.isEmpty {
            kind = .bitsAndBytes4Bit(quantTypes: quantTypes.sorted(), blockSizes: blockSizes.sorted(),
                                     quantizedWeights: quantizedOriginalElements.count)
        } else if FileManager.default.fileExists(atPath: adapterConfig)
                    && checkpoint.files.contains(where: { $0.path.hasSuffix("adapter_model.safetensors") }) {
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
