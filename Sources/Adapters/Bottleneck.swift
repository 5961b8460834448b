import Foundation
import Models
import SafeTensors
import TrainingCore

/// Houlsby bottleneck adapters: after a layer's output projection (attention output and
/// feed-forward output, before the residual add and LayerNorm), y ← y + up(act(down(y))) with a
/// small hidden size. PEFT has no such method; the folder uses PEFT's layout with
/// `"peft_type": "BOTTLENECK"` (Tailor's own, see formats/peft-adapter.md).
public struct BottleneckConfig: Sendable, Equatable {
    public var targets: ModuleMatcher.Targets
    public var size: Int
    public var activation: String
    public var modulesToSave: [String]
    public var taskType: String?

    public init(
        targets: ModuleMatcher.Targets, size: Int = 64, activation: String = "gelu", modulesToSave: [String] = [],
        taskType: String? = nil
    ) {
        self.targets = targets
        self.size = size
        self.activation = activation
        self.modulesToSave = modulesToSave
        self.taskType = taskType
    }

    /// The output projections Houlsby adapters follow in `family`.
    public static func defaultTargets(for family: any ModelFamily) -> ModuleMatcher.Targets {
        .names(family.bottleneckTargets)
    }

    init(json: [String: Any], file: String) throws {
        func fail(_ why: String) -> AdapterError { AdapterError(file: file, why) }
        guard let size = json["bottleneck_size"] as? Int, size > 0 else { throw fail("\"bottleneck_size\" must be a positive integer") }
        guard let list = json["target_modules"] as? [String] else { throw fail("\"target_modules\" must be a list") }
        let activation = json["activation"] as? String ?? "gelu"
        guard ["gelu", "relu"].contains(activation) else { throw fail("\"activation\" \(activation) is not supported (gelu, relu)") }
        self.init(
            targets: .names(list), size: size, activation: activation, modulesToSave: json["modules_to_save"] as? [String] ?? [],
            taskType: json["task_type"] as? String)
    }

    func jsonText(selected: [String]) -> String {
        String(
            PythonJSONText.render(
                .object([
                    "peft_type": .string("BOTTLENECK"), "bottleneck_size": .int(size), "activation": .string(activation),
                    "target_modules": .array(selected.map { .string($0) }),
                    "modules_to_save": modulesToSave.isEmpty ? .null : .array(modulesToSave.map { .string($0) }),
                    "task_type": taskType.map { .string($0) } ?? .null,
                ])
            ).dropLast())
    }
}

/// One bottleneck: down `[size, out]` (+ bias), activation, up `[out, size]` (+ bias, zero at
/// start so the adapter begins as the identity).
public final class BottleneckLinear: LinearAdapter, @unchecked Sendable {
    let down: LinearLayer
    let up: LinearLayer
    let activation: String

    init(down: LinearLayer, up: LinearLayer, activation: String) {
        self.down = down
        self.up = up
        self.activation = activation
    }

    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor {
        let hidden = graph.linear(y, down)
        let activated = activation == "relu" ? graph.relu(hidden) : graph.gelu(hidden)
        return graph.add(y, graph.linear(activated, up))
    }
}

/// A base model with bottleneck adapters.
public final class BottleneckModel: PEFTAdapter {
    public let config: BottleneckConfig
    public private(set) var layers: [(String, BottleneckLinear)] = []
    public private(set) var fullyTrained: [(String, Tensor)] = []

    public init(
        base: AdaptableModel, config: BottleneckConfig, weights: [String: Tensor]? = nil, seed: UInt64 = 0,
        file: String = "adapter"
    ) throws {
        self.config = config
        var rng = RandomGenerator(seed: seed)
        let saved = ModulesToSave.select(config.modulesToSave, in: base)
        let targets = ModuleMatcher(targets: config.targets).select(base.linearModuleNames, outputModule: base.outputModuleName)
            .filter { !saved.contains($0) }
        guard !targets.isEmpty else { throw AdapterError(file: file, "target_modules matches none of the model's Linear modules") }
        for name in targets {
            guard let layer = base.linear(named: name) else { continue }
            let out = layer.outFeatures
            func tensor(_ suffix: String, _ shape: [Int], _ initial: () -> [Float]) throws -> Tensor {
                let key = "base_model.model.\(name).adapter.\(suffix)"
                if let weights {
                    guard let stored = weights[key], stored.shape == shape else {
                        throw AdapterError(file: file, "missing or misshapen \(key) (needs \(shape))")
                    }
                    return Tensor(stored.values, shape: shape, requiresGrad: true, name: key)
                }
                return Tensor(initial(), shape: shape, requiresGrad: true, name: key)
            }
            let bound = 1 / Float(out).squareRoot()
            let downWeight = try tensor("down.weight", [config.size, out]) {
                (0..<(config.size * out)).map { _ in (rng.nextFloat() * 2 - 1) * bound }
            }
            let downBias = try tensor("down.bias", [config.size]) { [Float](repeating: 0, count: config.size) }
            let upWeight = try tensor("up.weight", [out, config.size]) { [Float](repeating: 0, count: out * config.size) }
            let upBias = try tensor("up.bias", [out]) { [Float](repeating: 0, count: out) }
            let adapter = BottleneckLinear(
                down: LinearLayer(weight: .dense(downWeight), bias: downBias),
                up: LinearLayer(weight: .dense(upWeight), bias: upBias), activation: config.activation)
            base.updateLinear(name) { $0.adapters.append(adapter) }
            layers.append((name, adapter))
            bottleneckTensors[name] = [downWeight, downBias, upWeight, upBias]
        }
        fullyTrained = try ModulesToSave.trainInFull(
            config.modulesToSave, in: base, keyPrefix: "base_model.model.",
            weights: weights, file: file)
    }

    /// down.weight, down.bias, up.weight, up.bias of each adapted module.
    private var bottleneckTensors: [String: [Tensor]] = [:]

    public var peftType: String { "BOTTLENECK" }
    public var trainableParameters: [(String, Tensor)] {
        layers.flatMap { name, _ in (bottleneckTensors[name] ?? []).map { ($0.name, $0) } } + fullyTrained
    }
    public var addedParameterCount: Int { bottleneckTensors.values.flatMap { $0 }.reduce(0) { $0 + $1.count } }
    public func configText() -> String { config.jsonText(selected: layers.map(\.0)) }
}
