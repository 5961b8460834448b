import Foundation
import Models
import SafeTensors
import TrainingCore

/// IA3 settings with PEFT's field names (`IA3Config`).
public struct IA3Config: Sendable, Equatable {
    public var targets: ModuleMatcher.Targets
    /// Targets whose input (not output) is scaled: the feed-forward layers.
    public var feedforward: ModuleMatcher.Targets
    public var modulesToSave: [String]
    public var excludeModules: ModuleMatcher.Targets?
    public var taskType: String?
    public var baseModel: String?

    public init(
        targets: ModuleMatcher.Targets, feedforward: ModuleMatcher.Targets, modulesToSave: [String] = [],
        taskType: String? = nil, baseModel: String? = nil
    ) {
        self.targets = targets
        self.feedforward = feedforward
        self.modulesToSave = modulesToSave
        self.taskType = taskType
        self.baseModel = baseModel
    }

    static let understood: Set<String> = [
        "peft_type", "target_modules", "feedforward_modules", "modules_to_save", "exclude_modules",
        "task_type", "base_model_name_or_path", "inference_mode", "revision", "auto_mapping",
        "peft_version", "init_ia3_weights", "fan_in_fan_out",
    ]

    public init(json: [String: Any], file: String) throws {
        func fail(_ why: String) -> AdapterError { AdapterError(file: file, why) }
        for key in json.keys where !Self.understood.contains(key) { throw fail("field \"\(key)\" is not supported for IA3") }
        if json["fan_in_fan_out"] as? Bool == true { throw fail("\"fan_in_fan_out\" = true is not supported") }
        func targets(_ key: String) throws -> ModuleMatcher.Targets? { try ModuleMatcher.Targets(json: json[key], field: key, file: file) }
        guard let t = try targets("target_modules") else { throw fail("\"target_modules\" is missing") }
        self.targets = t
        feedforward = try targets("feedforward_modules") ?? .names([])
        excludeModules = try targets("exclude_modules")
        var saved: [String] = []
        for name in (json["modules_to_save"] as? [String]) ?? [] where !saved.contains(name) { saved.append(name) }
        modulesToSave = saved
        taskType = json["task_type"] as? String
        baseModel = json["base_model_name_or_path"] as? String
    }

    func jsonText() -> String {
        func value(_ t: ModuleMatcher.Targets?) -> PythonJSONText.Value { t?.jsonValue ?? .null }
        return String(
            PythonJSONText.render(
                .object([
                    "auto_mapping": .null, "base_model_name_or_path": baseModel.map { .string($0) } ?? .null,
                    "exclude_modules": value(excludeModules),
                    "fan_in_fan_out": .bool(false), "feedforward_modules": value(feedforward), "inference_mode": .bool(true),
                    "init_ia3_weights": .bool(true),
                    "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
                    "peft_type": .string("IA3"), "peft_version": .string("0.21.2"), "revision": .null, "target_modules": value(targets),
                    "task_type": taskType.map { .string($0) } ?? .null,
                ])
            ).dropLast())
    }
}

/// One IA3 vector: the layer's output (or, for feed-forward layers, its input) scaled element-wise
/// by a learned vector that starts at 1. Saved as `ia3_l` `[out, 1]` or `[1, in]`.
public final class IA3Linear: LinearAdapter, @unchecked Sendable {
    public let vector: Tensor
    public let feedforward: Bool

    init(vector: Tensor, feedforward: Bool) {
        self.vector = vector
        self.feedforward = feedforward
    }

    public var changesInput: Bool { feedforward }

    /// Weights the vector in a stack (`--adapter a:0.5`): l ← 1 + w·(l − 1), so 0 is no change
    /// and 1 the adapter as trained (IA3 scales; it has no additive update to weight).
    public func applyStackWeight(_ weight: Float) {
        for i in 0..<vector.count { vector.data[i] = 1 + weight * (vector.data[i] - 1) }
    }

    public func prepareInput(_ graph: Graph, _ x: Tensor) -> Tensor { feedforward ? graph.scaleColumns(x, vector) : x }
    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor { feedforward ? y : graph.scaleColumns(y, vector) }
}

/// A base model with IA3 injected (PEFT's IA3 model).
public final class IA3Model: PEFTAdapter {
    public let config: IA3Config
    public private(set) var layers: [(String, IA3Linear)] = []
    public private(set) var fullyTrained: [(String, Tensor)] = []

    public init(base: AdaptableModel, config: IA3Config, weights: [String: Tensor]? = nil, file: String = "adapter") throws {
        self.config = config
        let matcher = ModuleMatcher(targets: config.targets, exclude: config.excludeModules)
        let saved = ModulesToSave.select(config.modulesToSave, in: base)
        let targets = matcher.select(base.linearModuleNames, outputModule: base.outputModuleName).filter { !saved.contains($0) }
        guard !targets.isEmpty else { throw AdapterError(file: file, "target_modules matches none of the model's Linear modules") }
        for name in targets {
            guard let layer = base.linear(named: name) else { continue }
            let isFeedforward = ModuleMatcher.matches(config.feedforward, name)
            let size = isFeedforward ? layer.inFeatures : layer.outFeatures
            let key = "base_model.model.\(name).ia3_l"
            var values = [Float](repeating: 1, count: size)
            if let weights {
                guard let stored = weights[key], stored.count == size else {
                    throw AdapterError(file: file, "missing or misshapen \(key) (needs \(size) values)")
                }
                values = stored.values
            }
            let vector = Tensor(values, shape: [size], requiresGrad: true, name: key)
            let adapter = IA3Linear(vector: vector, feedforward: isFeedforward)
            base.updateLinear(name) { $0.adapters.append(adapter) }
            layers.append((name, adapter))
        }
        fullyTrained = try ModulesToSave.trainInFull(
            config.modulesToSave, in: base, keyPrefix: "base_model.model.",
            weights: weights, file: file)
    }

    public var peftType: String { "IA3" }
    public var trainableParameters: [(String, Tensor)] { layers.map { ("base_model.model.\($0.0).ia3_l", $0.1.vector) } + fullyTrained }
    public var addedParameterCount: Int { layers.reduce(0) { $0 + $1.1.vector.count } }
    public func configText() -> String { config.jsonText() }

    /// PEFT's saved shape of each IA3 vector: `[out, 1]` for output scaling, `[1, in]` for input.
    func savedShape(_ name: String) -> [Int]? {
        guard let layer = layers.first(where: { "base_model.model.\($0.0).ia3_l" == name })?.1 else { return nil }
        return layer.feedforward ? [1, layer.vector.count] : [layer.vector.count, 1]
    }
}
