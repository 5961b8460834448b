import Diagnostics
import Foundation
import SafeTensors

/// A LoRA adapter's settings with PEFT's field names and meanings (`LoraConfig`): every field
/// PEFT writes is read, and a setting we do not implement is refused by name rather than ignored.
public struct LoRAConfig: Sendable, Equatable {
    public enum Bias: String, Sendable, CaseIterable { case none, all, loraOnly = "lora_only" }
    public enum Initialization: Sendable, Equatable {
        /// A Kaiming-uniform (PEFT's `True`), B zero: the adapter starts as the identity.
        case kaiming
        /// A normal(0, 1/r), B zero.
        case gaussian
        /// A Kaiming-uniform and B random too (PEFT's `False`): for tests, not training.
        case random
        /// A and B from the principal singular vectors of the base weight, which loses them.
        case pissa

        /// The initialisations a user picks by name (`random` is for tests).
        public enum Choice: String, Sendable, CaseIterable {
            case kaiming, gaussian, pissa

            public var initialization: Initialization {
                switch self {
                case .kaiming: .kaiming
                case .gaussian: .gaussian
                case .pissa: .pissa
                }
            }
        }
    }

    public var r: Int
    public var alpha: Double
    public var targets: ModuleMatcher.Targets
    public var excludeModules: ModuleMatcher.Targets?
    public var layersToTransform: [Int]?
    public var dropout: Float
    public var bias: Bias
    public var modulesToSave: [String]
    public var useRSLoRA: Bool
    public var rankPattern: [String: Int]
    public var alphaPattern: [String: Double]
    public var initialization: Initialization
    public var taskType: String?
    public var baseModel: String?
    /// PEFT's `fan_in_fan_out`: true on GPT-2's Conv1D layers (their weights stored `[in, out]`).
    /// It never changes the update here (PEFT itself sets it from the layer type, and the factors
    /// are in Linear layout either way); it is kept so a saved config says what PEFT's would.
    public var fanInFanOut = false
    /// DoRA: a learned magnitude per output row on top of LoRA's direction.
    public var useDoRA = false

    public init(
        r: Int = 8, alpha: Double = 8, targets: ModuleMatcher.Targets, dropout: Float = 0, bias: Bias = .none,
        modulesToSave: [String] = [], useRSLoRA: Bool = false, rankPattern: [String: Int] = [:],
        alphaPattern: [String: Double] = [:], initialization: Initialization = .kaiming, taskType: String? = nil,
        excludeModules: ModuleMatcher.Targets? = nil, layersToTransform: [Int]? = nil, baseModel: String? = nil
    ) {
        self.r = r
        self.alpha = alpha
        self.targets = targets
        self.dropout = dropout
        self.bias = bias
        self.modulesToSave = modulesToSave
        self.useRSLoRA = useRSLoRA
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.initialization = initialization
        self.taskType = taskType
        self.excludeModules = excludeModules
        self.layersToTransform = layersToTransform
        self.baseModel = baseModel
    }

    /// Rank of module `name` (rank_pattern, else r).
    public func rank(for name: String) -> Int { ModuleMatcher.patternValue(rankPattern, for: name) ?? r }

    /// Scale of module `name`: alpha / r, or alpha / √r with rsLoRA, each from the patterns.
    public func scale(for name: String) -> Double {
        let rank = Double(rank(for: name))
        let a = ModuleMatcher.patternValue(alphaPattern, for: name) ?? alpha
        return useRSLoRA ? a / rank.squareRoot() : a / rank
    }

    /// The explicit module names of `target_modules` (empty for a regex or all-linear).
    public var targetNames: [String] {
        if case .names(let names) = targets { return names }
        return []
    }

    public var matcher: ModuleMatcher { ModuleMatcher(targets: targets, exclude: excludeModules, layersToTransform: layersToTransform) }

    // MARK: adapter_config.json

    /// Settings PEFT writes that must keep their default for us to apply the adapter faithfully.
    nonisolated(unsafe) static let mustBeDefault: [String: (Any) -> Bool] = [
        "lora_bias": { ($0 as? Bool) == false }, "use_qalora": { ($0 as? Bool) == false },
        "layer_replication": isNull, "target_parameters": isNull, "trainable_token_indices": isNull,
        "alora_invocation_tokens": isNull, "arrow_config": isNull, "use_bdlora": { isNull($0) || ($0 as? Bool) == false },
        "megatron_config": isNull, "eva_config": isNull, "corda_config": isNull, "lora_ga_config": isNull,
        "kasa_config": isNull, "monteclora_config": isNull, "velora_config": isNull,
        "loftq_config": { isNull($0) || (($0 as? [String: Any])?.isEmpty ?? false) },
    ]
    static func isNull(_ value: Any) -> Bool { value is NSNull }
    /// Fields we read or that do not change the computation (bookkeeping).
    static let understood: Set<String> = [
        "peft_type", "r", "lora_alpha", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern",
        "lora_dropout", "bias", "modules_to_save", "use_rslora", "rank_pattern", "alpha_pattern", "init_lora_weights",
        "task_type", "base_model_name_or_path", "inference_mode", "revision", "auto_mapping", "peft_version",
        "megatron_core", "qalora_group_size", "ensure_weight_tying", "use_dora", "fan_in_fan_out",
    ]

    /// Reads a PEFT `adapter_config.json`.
    public init(jsonFile path: String) throws {
        let data = Data(try TextFile.bytes(path, for: AdaptersModule.self))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AdapterError(file: path, "not a JSON object")
        }
        try self.init(json: object, file: path)
    }

    public init(json: [String: Any], file: String) throws {
        func fail(_ why: String) -> AdapterError { AdapterError(file: file, why) }
        let type = json["peft_type"] as? String ?? "LORA"
        guard type == "LORA" else { throw fail("peft_type \(type) is not LoRA") }
        for (key, value) in json where !Self.understood.contains(key) {
            guard let isDefault = Self.mustBeDefault[key] else { throw fail("field \"\(key)\" is not supported") }
            guard isDefault(value) else { throw fail("\"\(key)\" = \(value) is not supported") }
        }
        guard let r = json["r"] as? Int, r > 0 else { throw fail("\"r\" must be a positive integer") }
        self.r = r
        alpha = try Self.finiteNumber(json["lora_alpha"], field: "lora_alpha", fail: fail) ?? 8
        targets = try Self.targets(json["target_modules"], field: "target_modules", file: file)
        excludeModules = try ModuleMatcher.Targets(json: json["exclude_modules"], field: "exclude_modules", file: file)
        if let layers = json["layers_to_transform"], !(layers is NSNull) {
            if let single = layers as? Int {
                layersToTransform = [single]
            } else if let list = layers as? [Int] {
                layersToTransform = list
            } else {
                throw fail("\"layers_to_transform\" must be an integer or a list of integers")
            }
        }
        dropout = Float(try Self.finiteNumber(json["lora_dropout"], field: "lora_dropout", fail: fail) ?? 0)
        guard dropout >= 0, dropout < 1 else { throw fail("\"lora_dropout\" must be in [0, 1), not \(dropout)") }
        guard let bias = Bias(rawValue: json["bias"] as? String ?? "none") else { throw fail("\"bias\" must be none, all or lora_only") }
        self.bias = bias
        var saved: [String] = []
        for name in (json["modules_to_save"] as? [String]) ?? [] where !saved.contains(name) { saved.append(name) }
        modulesToSave = saved
        useRSLoRA = json["use_rslora"] as? Bool ?? false
        rankPattern = (json["rank_pattern"] as? [String: Int]) ?? [:]
        if let (key, rank) = rankPattern.first(where: { $0.value <= 0 }) {
            throw fail("\"rank_pattern\" gives \(key) rank \(rank): ranks must be positive")
        }
        alphaPattern = [:]
        for (key, value) in (json["alpha_pattern"] as? [String: Any]) ?? [:] {
            alphaPattern[key] = try Self.finiteNumber(value, field: "alpha_pattern.\(key)", fail: fail)
        }
        switch json["init_lora_weights"] {
        case let flag as Bool: initialization = flag ? .kaiming : .random
        case let name as String where name == "gaussian": initialization = .gaussian
        case let name as String where name == "pissa": initialization = .pissa
        case nil: initialization = .kaiming
        default: throw fail("\"init_lora_weights\" = \(json["init_lora_weights"]!) is not supported (true, false, gaussian, pissa)")
        }
        taskType = json["task_type"] as? String
        baseModel = json["base_model_name_or_path"] as? String
        useDoRA = json["use_dora"] as? Bool ?? false
        fanInFanOut = json["fan_in_fan_out"] as? Bool ?? false
    }

    /// A JSON number that must be finite (a string, a boolean, or 1e999 read as infinity would
    /// otherwise scale every update by nonsense); nil when the field is absent or null.
    static func finiteNumber(_ value: Any?, field: String, fail: (String) -> AdapterError) throws -> Double? {
        guard let value, !(value is NSNull) else { return nil }
        // Foundation reads JSON true/false as NSNumber too; their objCType "c" tells them apart.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c", number.doubleValue.isFinite else {
            throw fail("\"\(field)\" must be a finite number, not \(value)")
        }
        return number.doubleValue
    }

    private static func targets(_ value: Any?, field: String, file: String) throws -> ModuleMatcher.Targets {
        guard let targets = try ModuleMatcher.Targets(json: value, field: field, file: file) else {
            throw AdapterError(file: file, "\"\(field)\" must be a list of module names or a regex string")
        }
        return targets
    }

    /// adapter_config.json as PEFT 0.21 writes it (its fields, `json.dumps(indent=2, sort_keys=True)`).
    public func jsonText(inferenceMode: Bool = true) -> String {
        func targetsValue(_ t: ModuleMatcher.Targets?) -> PythonJSONText.Value { t?.jsonValue ?? .null }
        let initValue: PythonJSONText.Value
        switch initialization {
        case .kaiming: initValue = .bool(true)
        case .random: initValue = .bool(false)
        case .gaussian: initValue = .string("gaussian")
        case .pissa: initValue = .string("pissa")
        }
        var object: [String: PythonJSONText.Value] = [
            "alora_invocation_tokens": .null, "alpha_pattern": .object(alphaPattern.mapValues { Self.number($0) }),
            "arrow_config": .null, "auto_mapping": .null, "base_model_name_or_path": baseModel.map { .string($0) } ?? .null,
            "bias": .string(bias.rawValue), "corda_config": .null, "ensure_weight_tying": .bool(false), "eva_config": .null,
            "exclude_modules": targetsValue(excludeModules), "fan_in_fan_out": .bool(fanInFanOut), "inference_mode": .bool(inferenceMode),
            "init_lora_weights": initValue, "kasa_config": .null, "layer_replication": .null, "layers_pattern": .null,
            "layers_to_transform": layersToTransform.map { .array($0.map { .int($0) }) } ?? .null, "loftq_config": .object([:]),
            "lora_alpha": Self.number(alpha), "lora_bias": .bool(false), "lora_dropout": .double(Double(dropout)),
            "lora_ga_config": .null, "megatron_config": .null, "megatron_core": .string("megatron.core"),
            "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
            "monteclora_config": .null, "peft_type": .string("LORA"), "peft_version": .string("0.21.2"),
            "qalora_group_size": .int(16), "r": .int(r), "rank_pattern": .object(rankPattern.mapValues { .int($0) }),
            "revision": .null, "target_modules": targetsValue(targets), "target_parameters": .null,
            "task_type": taskType.map { .string($0) } ?? .null, "trainable_token_indices": .null, "use_bdlora": .null,
            "use_dora": .bool(useDoRA), "use_qalora": .bool(false), "use_rslora": .bool(useRSLoRA), "velora_config": .null,
        ]
        object["lora_dropout"] = .double(Double(dropout))
        return PythonJSONText.render(.object(object))
    }

    /// An integer-valued alpha is written as an integer, as Python keeps `lora_alpha=8`.
    static func number(_ value: Double) -> PythonJSONText.Value {
        value == value.rounded() && abs(value) < 1e15 ? .int(Int(value)) : .double(value)
    }
}
