import Foundation
import Quantization
import SafeTensors
import TrainingCore

/// The table from config.json's `model_type` to the family that builds it: the one place an
/// architecture is registered.
public enum ModelFamilies {
    public static let table: [String: any ModelFamily] = [
        "bert": BertFamily(),
        "roberta": RobertaFamily(),
        "gpt2": GPT2Family(),
        "llama": LlamaFamily(modelType: "llama"),
        "mistral": LlamaFamily(modelType: "mistral"),
        "qwen2": LlamaFamily(modelType: "qwen2"),
        "t5": T5Family(),
    ]

    /// The family of the model whose config.json is `config`.
    public static func family(of config: ConfigReader) throws -> any ModelFamily {
        let modelType = try config.string("model_type")
        guard let family = table[modelType] else {
            throw ModelError(
                file: config.path, "model_type \"\(modelType)\" is not supported (\(table.keys.sorted().joined(separator: ", ")))")
        }
        return family
    }

    /// The family of the model folder `folder`.
    public static func family(ofFolder folder: String) throws -> any ModelFamily {
        try family(of: ConfigReader(path: folder + "/config.json"))
    }
}

/// Builds models from folders (config.json + safetensors, sharded or not, f32/f16/bf16 or
/// bitsandbytes 4-bit) through their family.
public enum ModelLoader {
    /// `labels` overrides config.json's id2label (an adapter trained for other labels); `quantize`
    /// keeps dense Linear weights in 4 bits as they load (QLoRA without a 4-bit folder).
    public static func load(
        folder: String, head: ModelHead, trainable: Bool = false, labels: [String]? = nil,
        quantize: QuantType? = nil
    ) throws -> any TransformerModel {
        let config = try ConfigReader(path: folder + "/config.json")
        let family = try ModelFamilies.family(of: config)
        guard family.heads.contains(head) else {
            let modelType = try config.string("model_type")
            let what = head == .causalLM ? "cannot generate text" : "has no \(head.rawValue) head"
            throw ModelError(
                file: config.path,
                "a \(family.name) model \(what) (model_type \(modelType)); it offers "
                    + family.heads.map(\.rawValue).joined(separator: ", "))
        }
        let weights = try WeightStore(Checkpoint.open(folder))
        weights.quantizeLinearWeights = quantize
        family.sanitize(weights)
        return try family.load(config, weights: weights, head: head, trainable: trainable, labels: labels)
    }

    /// Loads `folder` as a causal LM; `quantizeHead` makes a 4-bit copy of its output head
    /// (``TransformerModel/quantizeOutputHead(_:)``); `computeDType` nil takes config.json's
    /// (``ComputeDType/default(config:)``).
    public static func loadCausalLM(
        folder: String, quantizeHead: QuantType? = nil, computeDType: ComputeDType? = .f32
    ) throws -> any CausalLanguageModel {
        let family = try ModelFamilies.family(of: ConfigReader(path: folder + "/config.json"))
        let head = family.heads.first(where: \.generates) ?? .causalLM
        guard let model = try load(folder: folder, head: head) as? any CausalLanguageModel else {
            throw ModelError(file: folder, "not a causal language model")
        }
        model.computeDType = try computeDType ?? ComputeDType.default(config: ConfigReader(path: folder + "/config.json").values)
        if let quantizeHead { try model.quantizeOutputHead(quantizeHead) }
        return model
    }
}
