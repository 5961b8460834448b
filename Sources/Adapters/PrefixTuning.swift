import Foundation
import Models
import SafeTensors
import TrainingCore

/// Prefix tuning (PEFT `PREFIX_TUNING`, Li & Liang 2021): every attention layer sees
/// `num_virtual_tokens` learned keys and values before the sequence's own. PEFT stores all layers'
/// prefixes in one table `prompt_embeddings` `[n, layers·2·token_dim]`, each row laid out as
/// [layer][key, value][kv head][head dim]; `token_dim` is the key/value width (kv heads × head dim
/// under grouped-query attention). With `prefix_projection` PEFT trains an MLP that produces this
/// table, but saves the table itself, so saved folders load the same way either way; we train the
/// table directly.
public final class PrefixTuningModel: PEFTAdapter {
    public let virtualTokenCount: Int
    public let table: Tensor
    public let modulesToSave: [String]
    public let taskType: String?
    public let baseModel: String?
    public private(set) var fullyTrained: [(String, Tensor)] = []
    let geometry: PromptGeometry

    static let understood: Set<String> = [
        "peft_type", "task_type", "num_virtual_tokens", "token_dim", "num_transformer_submodules",
        "num_attention_heads", "num_layers", "encoder_hidden_size", "prefix_projection",
        "init_weights", "inference_mode", "modules_to_save", "base_model_name_or_path", "revision",
        "auto_mapping", "peft_version",
    ]

    /// A new prefix drawn from N(0, 1), torch's Embedding default that PEFT keeps.
    public convenience init(
        base: AdaptableModel, virtualTokens: Int, modulesToSave: [String], taskType: String?, baseModel: String? = nil,
        seed: UInt64
    ) throws {
        var rng = RandomGenerator(seed: seed)
        let geometry = base.promptGeometry
        try geometry.checkVirtualTokens(virtualTokens, file: "adapter")
        let values = (0..<(virtualTokens * geometry.layers * 2 * geometry.keyValueWidth)).map { _ in rng.nextNormal() }
        try self.init(
            base: base, table: values, count: virtualTokens, modulesToSave: modulesToSave, taskType: taskType,
            baseModel: baseModel, weights: nil, file: "adapter")
    }

    init(
        base: AdaptableModel, table values: [Float], count: Int, modulesToSave: [String], taskType: String?, baseModel: String?,
        weights: [String: Tensor]?, file: String
    ) throws {
        geometry = base.promptGeometry
        try geometry.checkVirtualTokens(count, file: file)
        let width = geometry.layers * 2 * geometry.keyValueWidth
        let (size, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, values.count == size else {
            throw AdapterError(
                file: file,
                "prompt_embeddings must be [\(count), \(width)] "
                    + "(num_virtual_tokens × num_layers·2·token_dim)")
        }
        virtualTokenCount = count
        table = Tensor(values, shape: [count, width], requiresGrad: true, name: "prompt_embeddings")
        self.modulesToSave = modulesToSave
        self.taskType = taskType
        self.baseModel = baseModel
        base.prefix = table
        fullyTrained = try ModulesToSave.trainInFull(
            modulesToSave, in: base, keyPrefix: PromptLearning.savedKeyPrefix, weights: weights,
            file: file)
    }

    /// Loads a PEFT prefix-tuning folder, checking its recorded geometry against the base.
    convenience init(base: AdaptableModel, json: [String: Any], weights: [String: Tensor], file: String) throws {
        let count = try PromptLearning.virtualTokenCount(json, understood: Self.understood, method: "prefix tuning", file: file)
        let geometry = base.promptGeometry
        for (field, expected) in [
            ("num_layers", geometry.layers), ("token_dim", geometry.keyValueWidth),
            ("num_attention_heads", geometry.keyValueHeads),
        ] {
            if let value = json[field] as? Int, value != expected {
                throw AdapterError(file: file, "\(field) is \(value) but the base model has \(expected) (wrong base model?)")
            }
        }
        guard let stored = weights["prompt_embeddings"] else { throw AdapterError(file: file, "missing tensor prompt_embeddings") }
        try self.init(
            base: base, table: stored.values, count: count, modulesToSave: PromptLearning.modulesToSave(json),
            taskType: json["task_type"] as? String, baseModel: json["base_model_name_or_path"] as? String, weights: weights,
            file: file)
    }

    public var peftType: String { "PREFIX_TUNING" }
    public var trainableParameters: [(String, Tensor)] { [("prompt_embeddings", table)] + fullyTrained }
    public var addedParameterCount: Int { table.count }

    public func configText() -> String {
        String(
            PythonJSONText.render(
                .object([
                    "auto_mapping": .null, "base_model_name_or_path": baseModel.map { .string($0) } ?? .null,
                    "encoder_hidden_size": .int(geometry.keyValueWidth), "inference_mode": .bool(true), "init_weights": .null,
                    "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
                    "num_attention_heads": .int(geometry.keyValueHeads), "num_layers": .int(geometry.layers),
                    "num_transformer_submodules": .int(1),
                    "num_virtual_tokens": .int(virtualTokenCount), "peft_type": .string("PREFIX_TUNING"), "peft_version": .string("0.21.2"),
                    "prefix_projection": .bool(false), "revision": .null, "task_type": taskType.map { .string($0) } ?? .null,
                    "token_dim": .int(geometry.keyValueWidth),
                ])
            ).dropLast())
    }
}
