import Foundation
import Models
import SafeTensors
import TrainingCore

/// Prompt tuning (PEFT `PROMPT_TUNING`): `num_virtual_tokens` learned embeddings put before every
/// input's token embeddings; the base stays frozen. Saved as `prompt_embeddings` `[n, dim]`; a
/// modules_to_save module is saved as `base_model.<module>.weight` (PEFT's prompt-learning prefix).
public final class PromptTuningModel: PEFTAdapter {
    public let virtualTokenCount: Int
    public let embeddings: Tensor
    public let modulesToSave: [String]
    public let taskType: String?
    public let baseModel: String?
    public private(set) var fullyTrained: [(String, Tensor)] = []
    let layerCount: Int
    let heads: Int

    static let understood: Set<String> = ["peft_type", "task_type", "num_virtual_tokens", "token_dim", "num_transformer_submodules",
                                          "num_attention_heads", "num_layers", "prompt_tuning_init", "prompt_tuning_init_text",
                                          "tokenizer_name_or_path", "tokenizer_kwargs", "inference_mode", "modules_to_save",
                                          "base_model_name_or_path", "revision", "auto_mapping", "peft_version"]

    /// New virtual tokens drawn from N(0, 1) (PEFT's RANDOM init, torch's Embedding default).
    public convenience init(base: AdaptableModel, virtualTokens: Int, modulesToSave: [String], taskType: String?, seed: UInt64) throws {
        var rng = RandomGenerator(seed: seed)
        let dim = Self.hiddenSize(base)
        let values = (0..<(virtualTokens * dim)).map { _ in rng.nextNormal() }
        try self.init(base: base, embeddings: values, count: virtualTokens, modulesToSave: modulesToSave, taskType: taskType,
                      baseModel: nil, weights: nil, file: "adapter")
    }

    init(base: AdaptableModel, embeddings values: [Float], count: Int, modulesToSave: [String], taskType: String?, baseModel: String?,
         weights: [String: Tensor]?, file: String) throws {
        let dim = Self.hiddenSize(base)
        guard values.count == count * dim else { throw AdapterError(file: file, "prompt_embeddings must be [\(count), \(dim)]") }
        virtualTokenCount = count
        embeddings = Tensor(values, shape: [count, dim], requiresGrad: true, name: "prompt_embeddings")
        self.modulesToSave = modulesToSave
        self.taskType = taskType
        self.baseModel = baseModel
        switch base {
        case let bert as Bert:
            bert.virtualTokens = embeddings
            layerCount = bert.config.layers
            heads = bert.config.heads
        case let llama as Llama:
            llama.virtualTokens = embeddings
            layerCount = llama.config.layers
            heads = llama.config.heads
        default:
            throw AdapterError(file: file, "prompt tuning supports BERT and the Llama family")
        }
        let saved = Set(modulesToSave.flatMap { entry in base.linearModuleNames.filter { $0 == entry || $0.hasSuffix("." + entry) } })
        for name in base.linearModuleNames where saved.contains(name) {
            base.updateLinear(name) { layer in
                let weightKey = "base_model.\(name).weight", biasKey = "base_model.\(name).bias"
                let w = Tensor(weights?[weightKey]?.values ?? layer.weight.denseValues(), shape: [layer.outFeatures, layer.inFeatures],
                               requiresGrad: true, name: weightKey)
                layer.weight = .dense(w)
                fullyTrained.append((weightKey, w))
                if let bias = layer.bias {
                    let b = Tensor(weights?[biasKey]?.values ?? bias.values, shape: bias.shape, requiresGrad: true, name: biasKey)
                    layer.bias = b
                    fullyTrained.append((biasKey, b))
                }
            }
        }
    }

    /// Loads a PEFT prompt-tuning folder's config and tensors.
    convenience init(base: AdaptableModel, json: [String: Any], weights: [String: Tensor], file: String) throws {
        for key in json.keys where !Self.understood.contains(key) { throw AdapterError(file: file, "field \"\(key)\" is not supported for prompt tuning") }
        if let submodules = json["num_transformer_submodules"] as? Int, submodules != 1 {
            throw AdapterError(file: file, "num_transformer_submodules \(submodules) is not supported (encoder-decoder models)")
        }
        guard let count = json["num_virtual_tokens"] as? Int, count > 0 else { throw AdapterError(file: file, "\"num_virtual_tokens\" is missing") }
        guard let stored = weights["prompt_embeddings"] else { throw AdapterError(file: file, "missing tensor prompt_embeddings") }
        var saved: [String] = []
        for name in (json["modules_to_save"] as? [String]) ?? [] where !saved.contains(name) { saved.append(name) }
        try self.init(base: base, embeddings: stored.values, count: count, modulesToSave: saved, taskType: json["task_type"] as? String,
                      baseModel: json["base_model_name_or_path"] as? String, weights: weights, file: file)
    }

    static func hiddenSize(_ base: AdaptableModel) -> Int {
        if let bert = base as? Bert { return bert.config.hiddenSize }
        if let llama = base as? Llama { return llama.config.hiddenSize }
        return 0
    }

    public var peftType: String { "PROMPT_TUNING" }
    public var trainableParameters: [(String, Tensor)] { [("prompt_embeddings", embeddings)] + fullyTrained }
    public var addedParameterCount: Int { embeddings.count }

    public func configText() -> String {
        String(PythonJSONText.render(.object([
            "auto_mapping": .null, "base_model_name_or_path": baseModel.map { .string($0) } ?? .null, "inference_mode": .bool(true),
            "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
            "num_attention_heads": .int(heads), "num_layers": .int(layerCount), "num_transformer_submodules": .int(1),
            "num_virtual_tokens": .int(virtualTokenCount), "peft_type": .string("PROMPT_TUNING"), "peft_version": .string("0.21.2"),
            "prompt_tuning_init": .string("RANDOM"), "prompt_tuning_init_text": .null, "revision": .null,
            "task_type": taskType.map { .string($0) } ?? .null, "token_dim": .int(embeddings.shape[1]), "tokenizer_kwargs": .null,
            "tokenizer_name_or_path": .null,
        ])).dropLast())
    }
}
