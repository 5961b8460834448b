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

    static let understood: Set<String> = [
        "peft_type", "task_type", "num_virtual_tokens", "token_dim", "num_transformer_submodules",
        "num_attention_heads", "num_layers", "prompt_tuning_init", "prompt_tuning_init_text",
        "tokenizer_name_or_path", "tokenizer_kwargs", "inference_mode", "modules_to_save",
        "base_model_name_or_path", "revision", "auto_mapping", "peft_version",
    ]

    /// New virtual tokens drawn from N(0, 1) (PEFT's RANDOM init, torch's Embedding default).
    public convenience init(
        base: AdaptableModel, virtualTokens: Int, modulesToSave: [String], taskType: String?, baseModel: String? = nil,
        seed: UInt64
    ) throws {
        var rng = RandomGenerator(seed: seed)
        let geometry = base.promptGeometry
        try geometry.checkVirtualTokens(virtualTokens, file: "adapter")
        let dim = geometry.hiddenSize
        let values = (0..<(virtualTokens * dim)).map { _ in rng.nextNormal() }
        try self.init(
            base: base, embeddings: values, count: virtualTokens, modulesToSave: modulesToSave, taskType: taskType,
            baseModel: baseModel, weights: nil, file: "adapter")
    }

    init(
        base: AdaptableModel, embeddings values: [Float], count: Int, modulesToSave: [String], taskType: String?, baseModel: String?,
        weights: [String: Tensor]?, file: String
    ) throws {
        let geometry = base.promptGeometry
        try geometry.checkVirtualTokens(count, file: file)
        let dim = geometry.hiddenSize
        let (size, overflow) = count.multipliedReportingOverflow(by: dim)
        guard !overflow, values.count == size else { throw AdapterError(file: file, "prompt_embeddings must be [\(count), \(dim)]") }
        virtualTokenCount = count
        embeddings = Tensor(values, shape: [count, dim], requiresGrad: true, name: "prompt_embeddings")
        self.modulesToSave = modulesToSave
        self.taskType = taskType
        self.baseModel = baseModel
        layerCount = geometry.layers
        heads = geometry.heads
        base.virtualTokens = embeddings
        fullyTrained = try ModulesToSave.trainInFull(
            modulesToSave, in: base, keyPrefix: PromptLearning.savedKeyPrefix, weights: weights,
            file: file)
    }

    /// Loads a PEFT prompt-tuning folder's config and tensors.
    convenience init(base: AdaptableModel, json: [String: Any], weights: [String: Tensor], file: String) throws {
        let count = try PromptLearning.virtualTokenCount(json, understood: Self.understood, method: "prompt tuning", file: file)
        guard let stored = weights["prompt_embeddings"] else { throw AdapterError(file: file, "missing tensor prompt_embeddings") }
        try self.init(
            base: base, embeddings: stored.values, count: count, modulesToSave: PromptLearning.modulesToSave(json),
            taskType: json["task_type"] as? String, baseModel: json["base_model_name_or_path"] as? String,
            weights: weights, file: file)
    }

    public var peftType: String { "PROMPT_TUNING" }
    public var trainableParameters: [(String, Tensor)] { [("prompt_embeddings", embeddings)] + fullyTrained }
    public var addedParameterCount: Int { embeddings.count }

    public func configText() -> String {
        String(
            PythonJSONText.render(
                .object([
                    "auto_mapping": .null, "base_model_name_or_path": baseModel.map { .string($0) } ?? .null, "inference_mode": .bool(true),
                    "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
                    "num_attention_heads": .int(heads), "num_layers": .int(layerCount), "num_transformer_submodules": .int(1),
                    "num_virtual_tokens": .int(virtualTokenCount), "peft_type": .string("PROMPT_TUNING"), "peft_version": .string("0.21.2"),
                    "prompt_tuning_init": .string("RANDOM"), "prompt_tuning_init_text": .null, "revision": .null,
                    "task_type": taskType.map { .string($0) } ?? .null, "token_dim": .int(embeddings.shape[1]), "tokenizer_kwargs": .null,
                    "tokenizer_name_or_path": .null,
                ])
            ).dropLast())
    }
}
