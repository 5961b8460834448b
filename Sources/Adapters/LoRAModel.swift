import Foundation
import Models
import SafeTensors
import TrainingCore

/// A base model with a LoRA adapter injected into it, PEFT's `PeftModel` for LoRA: which layers
/// carry LoRA, which modules are trained in full (`modules_to_save`), and the trainable
/// parameters under PEFT's saved names.
public final class LoRAModel {
    public let config: LoRAConfig
    public let base: AdaptableModel
    /// LoRA layers by module name, in model order.
    public private(set) var layers: [(String, LoRALinear)] = []
    /// Trainable copies of the `modules_to_save` modules and of biases (bias = all/lora_only).
    public private(set) var fullyTrained: [(String, Tensor)] = []

    /// Injects LoRA into `base` as `config` says. `weights` supplies saved A/B (and saved modules)
    /// by PEFT key; without it A and B are initialised per `config.initialization` from `seed`.
    public init(base: AdaptableModel, config: LoRAConfig, weights: [String: Tensor]? = nil, seed: UInt64 = 0, file: String = "adapter") throws {
        self.config = config
        self.base = base
        var rng = RandomGenerator(seed: seed)
        let targets = config.matcher.select(base.linearModuleNames, outputModule: base.outputModuleName)
        let saved = ModulesToSave.select(config.modulesToSave, in: base)
        guard !targets.isEmpty else {
            throw AdapterError(file: file, "target_modules matches none of the model's Linear modules (\(base.linearModuleNames.prefix(4).joined(separator: ", ")), …)")
        }
        for name in targets where !saved.contains(name) {
            guard let layer = base.linear(named: name) else { continue }
            let (out, inFeatures, r) = (layer.outFeatures, layer.inFeatures, config.rank(for: name))
            let a: Tensor, b: Tensor
            if let weights {
                guard let savedA = weights[Self.key(name, "lora_A")], let savedB = weights[Self.key(name, "lora_B")] else {
                    throw AdapterError(file: file, "missing \(Self.key(name, "lora_A")) / lora_B for a targeted module")
                }
                guard savedA.shape == [r, inFeatures], savedB.shape == [out, r] else {
                    throw AdapterError(file: file, "\(name): lora_A \(savedA.shape) / lora_B \(savedB.shape) do not fit [\(r), \(inFeatures)] / [\(out), \(r)] (rank \(r) and the base layer's shape)")
                }
                a = Tensor(savedA.values, shape: savedA.shape, requiresGrad: true, name: Self.key(name, "lora_A"))
                b = Tensor(savedB.values, shape: savedB.shape, requiresGrad: true, name: Self.key(name, "lora_B"))
            } else {
                (a, b) = try Self.initialise(name: name, layer: layer, r: r, config: config, rng: &rng, file: file)
            }
            var magnitude: Tensor?
            if config.useDoRA {
                let magnitudeKey = "base_model.model.\(name).lora_magnitude_vector"
                if let weights {
                    guard let saved = weights[magnitudeKey], saved.count == out else {
                        throw AdapterError(file: file, "missing or misshapen \(magnitudeKey) (DoRA needs [\(out)])")
                    }
                    magnitude = Tensor(saved.values, shape: [out], requiresGrad: true, name: magnitudeKey)
                } else {
                    // DoRA starts from the norms of the (unchanged) base weight.
                    let probe = LoRALinear(moduleName: name, a: a, b: b, scale: Float(config.scale(for: name)), dropout: 0, seed: 0, base: layer)
                    magnitude = Tensor(probe.weightNorms(), shape: [out], requiresGrad: true, name: magnitudeKey)
                }
            }
            let lora = LoRALinear(moduleName: name, a: a, b: b, scale: Float(config.scale(for: name)), dropout: config.dropout, seed: rng.next(),
                                  magnitude: magnitude, base: config.useDoRA ? layer : nil)
            base.updateLinear(name) { $0.adapters.append(lora) }
            layers.append((name, lora))
        }
        fullyTrained = try ModulesToSave.trainInFull(config.modulesToSave, in: base, keyPrefix: "base_model.model.", weights: weights, file: file)
        if config.bias != .none {
            for name in base.linearModuleNames where !saved.contains(name) && (config.bias == .all || targets.contains(name)) {
                try trainBias(name, weights: weights, file: file)
            }
        }
    }

    /// PEFT's saved key for a LoRA tensor of module `name`.
    public static func key(_ name: String, _ part: String) -> String { "base_model.model.\(name).\(part).weight" }

    static func initialise(name: String, layer: LinearLayer, r: Int, config: LoRAConfig, rng: inout RandomGenerator,
                           file: String) throws -> (Tensor, Tensor) {
        let (out, inFeatures) = (layer.outFeatures, layer.inFeatures)
        let bound = 1 / Float(inFeatures).squareRoot()  // kaiming_uniform_(a=√5): U(−1/√in, 1/√in)
        var aValues = (0..<(r * inFeatures)).map { _ in (rng.nextFloat() * 2 - 1) * bound }
        var bValues = [Float](repeating: 0, count: out * r)
        switch config.initialization {
        case .kaiming: break
        case .gaussian: aValues = (0..<(r * inFeatures)).map { _ in rng.nextNormal() / Float(r) }
        case .random: bValues = (0..<(out * r)).map { _ in (rng.nextFloat() * 2 - 1) / Float(r).squareRoot() }
        case .pissa:
            throw AdapterError(file: file, "init_lora_weights \"pissa\" is not supported yet for \(name)")
        }
        return (Tensor(aValues, shape: [r, inFeatures], requiresGrad: true, name: key(name, "lora_A")),
                Tensor(bValues, shape: [out, r], requiresGrad: true, name: key(name, "lora_B")))
    }

    private func trainBias(_ name: String, weights: [String: Tensor]?, file: String) throws {
        base.updateLinear(name) { layer in
            guard let bias = layer.bias else { return }
            let key = "base_model.model.\(name).bias"
            let b = Tensor(weights?[key]?.values ?? bias.values, shape: bias.shape, requiresGrad: true, name: key)
            layer.bias = b
            fullyTrained.append((key, b))
        }
    }

    /// Every trainable tensor under the key PEFT saves it as.
    public var trainableParameters: [(String, Tensor)] {
        layers.flatMap { name, lora in
            [(Self.key(name, "lora_A"), lora.a), (Self.key(name, "lora_B"), lora.b)]
                + (lora.magnitude.map { [("base_model.model.\(name).lora_magnitude_vector", $0)] } ?? [])
        } + fullyTrained
    }

    /// Trainable and total parameter counts, as PEFT's `print_trainable_parameters`.
    public func parameterCounts(baseParameters: Int) -> (trainable: Int, total: Int) {
        let trainable = trainableParameters.reduce(0) { $0 + $1.1.count }
        let adapterOnly = layers.reduce(0) { $0 + $1.1.a.count + $1.1.b.count }
        return (trainable, baseParameters + adapterOnly)
    }

    /// Turns every LoRA layer on or off (off: the base model's outputs).
    public func setEnabled(_ enabled: Bool) { layers.forEach { $0.1.enabled = enabled } }
}
