import Foundation
import Models
import SafeTensors
import TrainingCore

/// A base model with a LoRA adapter injected into it, PEFT's `PeftModel` for LoRA: which layers
/// carry LoRA, which modules are trained in full (`modules_to_save`), and the trainable
/// parameters under PEFT's saved names.
public final class LoRAModel {
    public private(set) var config: LoRAConfig
    public let base: AdaptableModel
    /// LoRA layers by module name, in model order.
    public private(set) var layers: [(String, LoRALinear)] = []
    /// Trainable copies of the `modules_to_save` modules and of biases (bias = all/lora_only).
    public private(set) var fullyTrained: [(String, Tensor)] = []
    /// Tensors PEFT saves with bias = "all" that are not trained parameters of their own: a
    /// modules_to_save module's bias again as `….modules_to_save.bias` (the trained tensor) and
    /// as `….original_module.bias` (the base's, frozen).
    public private(set) var savedCopies: [(String, Tensor)] = []

    /// Injects LoRA into `base` as `config` says. `weights` supplies saved A/B (and saved modules)
    /// by PEFT key; without it A and B are initialised per `config.initialization` from `seed`.
    public init(
        base: AdaptableModel, config: LoRAConfig, weights: [String: Tensor]? = nil, seed: UInt64 = 0,
        file: String = "adapter"
    ) throws {
        self.config = config
        if let family = (base as? any TransformerModel)?.family { self.config.fanInFanOut = family.conv1DLinears }
        self.base = base
        var rng = RandomGenerator(seed: seed)
        let targets = config.matcher.select(base.linearModuleNames, outputModule: base.outputModuleName)
        let saved = ModulesToSave.select(config.modulesToSave, in: base)
        guard !targets.isEmpty else {
            throw AdapterError(
                file: file,
                "target_modules matches none of the model's Linear modules "
                    + "(\(base.linearModuleNames.prefix(4).joined(separator: ", ")), …)")
        }
        // Biases first, so that a DoRA layer sees the trained bias it subtracts from the base output.
        let adaptedNames = targets.filter { !saved.contains($0) && base.linear(named: $0) != nil }
        let biases = try Self.trainBiases(config.bias, of: base, adapted: Set(adaptedNames), saved: saved, weights: weights, file: file)
        let originalHeads = saved.compactMap { name in base.linear(named: name)?.bias.map { (name, $0) } }
        for name in adaptedNames {
            guard let layer = base.linear(named: name) else { continue }
            let (out, inFeatures, r) = (layer.outFeatures, layer.inFeatures, config.rank(for: name))
            var a: Tensor, b: Tensor
            var residual: Tensor?
            if let weights {
                guard let savedA = weights[Self.key(name, "lora_A")], let savedB = weights[Self.key(name, "lora_B")] else {
                    throw AdapterError(file: file, "missing \(Self.key(name, "lora_A")) / lora_B for a targeted module")
                }
                guard savedA.shape == [r, inFeatures], savedB.shape == [out, r] else {
                    throw AdapterError(
                        file: file,
                        "\(name): lora_A \(savedA.shape) / lora_B \(savedB.shape) do not fit "
                            + "[\(r), \(inFeatures)] / [\(out), \(r)] (rank \(r) and the base layer's shape)")
                }
                a = Tensor(savedA.values, shape: savedA.shape, requiresGrad: true, name: Self.key(name, "lora_A"))
                b = Tensor(savedB.values, shape: savedB.shape, requiresGrad: true, name: Self.key(name, "lora_B"))
                // A saved PiSSA adapter trained against the residual base, which PEFT rebuilds
                // from the base on load the same way.
                if config.initialization == .pissa {
                    residual = try Self.pissa(name: name, layer: layer, r: r, config: config, file: file).residual
                }
            } else {
                (a, b, residual) = try Self.initialise(name: name, layer: layer, r: r, config: config, rng: &rng, file: file)
            }
            if let residual { base.updateLinear(name) { $0.weight = .dense(residual) } }
            let adapted = base.linear(named: name) ?? layer
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
                    let probe = LoRALinear(
                        moduleName: name, a: a, b: b, scale: Float(config.scale(for: name)), dropout: 0, seed: 0,
                        base: adapted)
                    magnitude = Tensor(probe.weightNorms(), shape: [out], requiresGrad: true, name: magnitudeKey)
                }
            }
            let lora = LoRALinear(
                moduleName: name, a: a, b: b, scale: Float(config.scale(for: name)), dropout: config.dropout,
                seed: rng.next(), magnitude: magnitude, base: config.useDoRA ? adapted : nil)
            base.updateLinear(name) { $0.adapters.append(lora) }
            layers.append((name, lora))
        }
        fullyTrained =
            try ModulesToSave.trainInFull(
                config.modulesToSave, in: base, keyPrefix: "base_model.model.",
                weights: weights, file: file)
            + biases
        if config.bias == .all {
            // PEFT's wrapper holds the trained copy and the original module, and bias="all" saves
            // every parameter whose name ends in ".bias": both biases, besides the usual key.
            for (name, original) in originalHeads.sorted(by: { $0.0 < $1.0 }) {
                guard let trained = base.linear(named: name)?.bias else { continue }
                let key = "base_model.model.\(name).original_module.bias"
                let values =
                    try weights?[key].map { saved in
                        guard saved.count == original.count else {
                            throw AdapterError(file: file, "\(key) does not fit [\(original.count)]")
                        }
                        return saved.values
                    } ?? original.values
                savedCopies += [
                    ("base_model.model.\(name).modules_to_save.bias", trained),
                    (key, Tensor(values, shape: original.shape, name: key)),
                ]
            }
        }
    }

    /// PEFT's saved key for a LoRA tensor of module `name`.
    public static func key(_ name: String, _ part: String) -> String { "base_model.model.\(name).\(part).weight" }

    /// New A and B as `init_lora_weights` says, and for PiSSA the residual base weight.
    static func initialise(
        name: String, layer: LinearLayer, r: Int, config: LoRAConfig, rng: inout RandomGenerator,
        file: String
    ) throws -> (Tensor, Tensor, Tensor?) {
        let (out, inFeatures) = (layer.outFeatures, layer.inFeatures)
        let bound = 1 / Float(inFeatures).squareRoot()  // kaiming_uniform_(a=√5): U(−1/√in, 1/√in)
        var aValues = (0..<(r * inFeatures)).map { _ in (rng.nextFloat() * 2 - 1) * bound }
        var bValues = [Float](repeating: 0, count: out * r)
        switch config.initialization {
        case .kaiming: break
        case .gaussian: aValues = (0..<(r * inFeatures)).map { _ in rng.nextNormal() / Float(r) }
        case .random: bValues = (0..<(out * r)).map { _ in (rng.nextFloat() * 2 - 1) / Float(r).squareRoot() }
        case .pissa:
            return try pissa(name: name, layer: layer, r: r, config: config, file: file)
        }
        return (
            Tensor(aValues, shape: [r, inFeatures], requiresGrad: true, name: key(name, "lora_A")),
            Tensor(bValues, shape: [out, r], requiresGrad: true, name: key(name, "lora_B")), nil
        )
    }

    /// PiSSA (Meng et al. 2024, PEFT's "pissa"): with W = U·S·Vh, A = √(S_r/s)·Vh_r and
    /// B = U_r·√(S_r/s) carry the top r singular directions (s the LoRA scale, so s·B·A =
    /// U_r·S_r·Vh_r), and the frozen base keeps the residual W − s·B·A.
    static func pissa(
        name: String, layer: LinearLayer, r: Int, config: LoRAConfig,
        file: String
    ) throws -> (Tensor, Tensor, residual: Tensor) {
        if case .quantized = layer.weight {
            throw AdapterError(file: file, "init_lora_weights \"pissa\" needs an unquantized base (\(name) is 4-bit)")
        }
        let weightValues = layer.weight.denseValues()
        let (out, inFeatures) = (layer.outFeatures, layer.inFeatures)
        guard r <= min(out, inFeatures) else {
            throw AdapterError(file: file, "\(name): PiSSA rank \(r) exceeds the weight's rank bound \(min(out, inFeatures))")
        }
        let svd: SingularValueDecomposition
        do { svd = try SingularValueDecomposition(weightValues, rows: out, columns: inFeatures, name: name + ".weight") } catch {
            throw AdapterError(file: file, "\(error)")
        }
        let scale = Float(config.scale(for: name))
        let roots = svd.s.prefix(r).map { ($0 / scale).squareRoot() }
        var aValues = [Float](repeating: 0, count: r * inFeatures)
        for i in 0..<r { for j in 0..<inFeatures { aValues[i * inFeatures + j] = roots[i] * svd.vh[i * inFeatures + j] } }
        var bValues = [Float](repeating: 0, count: out * r)
        for o in 0..<out { for i in 0..<r { bValues[o * r + i] = svd.u[o * svd.rank + i] * roots[i] } }
        var residual = weightValues
        residual.withUnsafeMutableBufferPointer { w in
            BLAS.sgemm(
                .none, .none, m: out, n: inFeatures, k: r, alpha: -scale, a: bValues, lda: r, b: aValues, ldb: inFeatures,
                beta: 1, c: w.baseAddress!, ldc: inFeatures)
        }
        return (
            Tensor(aValues, shape: [r, inFeatures], requiresGrad: true, name: key(name, "lora_A")),
            Tensor(bValues, shape: [out, r], requiresGrad: true, name: key(name, "lora_B")),
            Tensor(residual, shape: [out, inFeatures], name: name + ".weight")
        )
    }

    /// Replaces the biases `bias` trains with trainable copies (saved values from `weights` when
    /// given) under PEFT's keys. lora_only: the adapted layers' biases, which PEFT keeps on the
    /// LoRA layer's `base_layer`. all: every bias of the model, the other Linear layers' and the
    /// norms' under their own names; modules_to_save modules train theirs with the module.
    static func trainBiases(
        _ bias: LoRAConfig.Bias, of base: AdaptableModel, adapted: Set<String>, saved: Set<String>,
        weights: [String: Tensor]?, file: String
    ) throws -> [(String, Tensor)] {
        guard bias != .none else { return [] }
        func trainable(_ current: Tensor, key: String) throws -> Tensor {
            guard let stored = weights?[key] else { return Tensor(current.values, shape: current.shape, requiresGrad: true, name: key) }
            guard stored.count == current.count else {
                throw AdapterError(file: file, "\(key) is \(stored.shape), the base's bias is \(current.shape)")
            }
            return Tensor(stored.values, shape: current.shape, requiresGrad: true, name: key)
        }
        var trained: [(String, Tensor)] = []
        for name in base.linearModuleNames where !saved.contains(name) && (bias == .all || adapted.contains(name)) {
            guard let current = base.linear(named: name)?.bias else { continue }
            let key = "base_model.model.\(name)" + (adapted.contains(name) ? ".base_layer.bias" : ".bias")
            let b = try trainable(current, key: key)
            base.updateLinear(name) { $0.bias = b }
            trained.append((key, b))
        }
        guard bias == .all else { return trained }
        for name in base.normBiasNames {
            guard let current = base.normBias(named: name) else { continue }
            let key = "base_model.model." + name
            let b = try trainable(current, key: key)
            base.setNormBias(b, named: name)
            trained.append((key, b))
        }
        return trained
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
