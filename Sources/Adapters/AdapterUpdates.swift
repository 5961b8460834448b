import Foundation
import Models
import TrainingCore

/// What an adapter does to each Linear weight, as the update ΔW `[out, in]` in f32, and what it
/// trains in full (modules_to_save). A plain LoRA adapter is read from its own files
/// (ΔW = s·B·A); DoRA, PiSSA and IA3 change the layer in ways that depend on the base weight, so
/// for those the adapted layers of the base are folded (``BaseMerge/fold(_:)``) and the base
/// weight subtracted.
public struct AdapterUpdates {
    public struct Update: Sendable {
        public var values: [Float]
        public var out: Int
        public var inFeatures: Int
        /// The factors when the update is s·B·A (plain LoRA): `cat` concatenates them exactly.
        public var factors: (a: [Float], b: [Float], rank: Int, scale: Float)?
        /// The adapter's own rank: r for LoRA (DoRA and PiSSA too, though their folded update
        /// can exceed it), min(out, in) for IA3.
        public var rankBound: Int
    }

    public let label: String
    public let config: [String: Any]
    public var updates: [String: Update] = [:]
    /// Modules trained in full, by saved key (`base_model.model.classifier.weight`).
    public var inFull: [String: Tensor] = [:]
    /// Modules whose bias the adapter changes (IA3 scaling a layer's output scales its bias).
    public var biasChanged: [String] = []
    public var labels: [String]?

    /// Reads `files`; `base` (a model folder) is needed for any adapter but plain LoRA.
    public init(_ files: AdapterFiles, base: String?) throws {
        label = files.label
        labels = files.labels
        config = try files.configJSON()
        let configPath = files.label + "/" + PEFTAdapterFolder.configFile
        let peftType = config["peft_type"] as? String ?? "LORA"
        guard ["LORA", "IA3"].contains(peftType) else {
            throw AdapterError(
                file: configPath,
                "a \(peftType) adapter changes the input, not the weights: it has no ΔW to compare or "
                    + "merge (LoRA, DoRA, PiSSA and IA3 do)")
        }
        let lora = peftType == "LORA" ? try LoRAConfig(json: config, file: configPath) : nil
        if let lora, lora.bias != .none {
            throw AdapterError(
                file: configPath,
                "bias = \(lora.bias.rawValue): trained biases replace the base's, which is no ΔW to "
                    + "compare or combine with other adapters; merge it into the base model's weights or use "
                    + "adapters trained with bias none")
        }
        if let lora, !lora.useDoRA, lora.initialization != .pissa {
            try readLoRA(files, config: lora)
        } else {
            guard let base else {
                throw AdapterError(
                    file: configPath,
                    "a \(lora?.useDoRA == true ? "DoRA" : lora != nil ? "PiSSA" : "IA3") adapter's update "
                        + "depends on the base weights: give the base model folder")
            }
            try fold(files, base: base, config: lora)
        }
    }

    private mutating func readLoRA(_ files: AdapterFiles, config: LoRAConfig) throws {
        let file = files.weights
        let tensors = try files.tensors()
        for (name, tensor) in tensors where !name.hasSuffix(".lora_A.weight") && !name.hasSuffix(".lora_B.weight") { inFull[name] = tensor }
        for (name, a) in tensors.sorted(by: { $0.key < $1.key }) where name.hasSuffix(".lora_A.weight") {
            let module = String(name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count))
            let bName = LoRAModel.key(module, "lora_B")
            guard let b = tensors[bName] else { throw AdapterError(file: file.path, "\(name) has no \(bName)") }
            guard a.shape.count == 2, b.shape == [b.shape.first ?? 0, a.shape[0]] else {
                throw AdapterError(file: file.path, "\(bName) is \(b.shape), lora_A is \(a.shape)")
            }
            let (r, inFeatures, out) = (a.shape[0], a.shape[1], b.shape[0])
            let scale = Float(config.scale(for: module))
            var delta = [Float](repeating: 0, count: out * inFeatures)
            delta.withUnsafeMutableBufferPointer { d in
                BLAS.sgemm(
                    .none, .none, m: out, n: inFeatures, k: r, alpha: scale, a: b.data, lda: r, b: a.data, ldb: inFeatures,
                    c: d.baseAddress!, ldc: inFeatures)
            }
            updates[module] = Update(values: delta, out: out, inFeatures: inFeatures, factors: (a.values, b.values, r, scale), rankBound: r)
        }
    }

    private mutating func fold(_ files: AdapterFiles, base: String, config: LoRAConfig?) throws {
        let adaptable = try PEFTAdapterFolder.loadWithBase([], base: base, taskOf: files)
        // The layers as they were: loading may replace a weight (PiSSA's residual, a head) but
        // never writes into one, so holding the references is enough.
        var original: [String: LinearLayer] = [:]
        for name in adaptable.linearModuleNames { original[name] = adaptable.linear(named: name) }
        let adapter = try PEFTAdapterFolder.loadAny(files, into: adaptable)
        let saved = Set(
            adapter.trainableParameters.map(\.0).filter {
                !$0.hasSuffix(".lora_A.weight") && !$0.hasSuffix(".lora_B.weight") && !$0.hasSuffix(".ia3_l")
                    && !$0.hasSuffix(".lora_magnitude_vector")
            })
        for (key, tensor) in adapter.trainableParameters where saved.contains(key) { inFull[key] = tensor }
        for name in adaptable.linearModuleNames {
            guard let layer = adaptable.linear(named: name), !layer.adapters.isEmpty, let before = original[name] else { continue }
            let (weight, bias) = try BaseMerge.fold(layer, name: name)
            let delta = zip(weight, before.weight.denseValues()).map { $0 - $1 }
            if let bias, bias != (before.bias?.values ?? [Float](repeating: 0, count: bias.count)) { biasChanged.append(name) }
            updates[name] = Update(
                values: delta, out: layer.outFeatures, inFeatures: layer.inFeatures, factors: nil,
                rankBound: min(config?.rank(for: name) ?? .max, layer.outFeatures, layer.inFeatures))
        }
    }

    /// Checks that `inputs` can be combined: against the base folder `model` when given (loaded
    /// with the head `taskOf` was trained for), else by the base they name. Returns a warning when
    /// they name different bases and no model was given to check them against.
    public static func checkFit(_ inputs: [AdapterUpdates], model: String?, taskOf files: AdapterFiles) throws -> String? {
        if let model {
            let base = try PEFTAdapterFolder.loadWithBase([], base: model, taskOf: files)
            for input in inputs { try input.check(fits: base) }
            return nil
        }
        let bases = Set(inputs.map { $0.config["base_model_name_or_path"] as? String ?? "?" })
        guard bases.count > 1 else { return nil }
        return "the adapters name different base models (\(bases.sorted().joined(separator: ", "))); "
            + "give the base model to check they fit one"
    }

    /// Refuses updates for modules `base` lacks or whose shape differs (an adapter trained on
    /// another model).
    public func check(fits base: AdaptableModel) throws {
        for (module, update) in updates.sorted(by: { $0.key < $1.key }) {
            guard let layer = base.linear(named: module) else {
                throw AdapterError(file: label, "\(module) is not a Linear module of the base model (trained on another model?)")
            }
            guard layer.outFeatures == update.out, layer.inFeatures == update.inFeatures else {
                throw AdapterError(
                    file: label,
                    "\(module): update [\(update.out), \(update.inFeatures)] does not fit the base layer "
                        + "[\(layer.outFeatures), \(layer.inFeatures)]")
            }
        }
    }

    /// Where the adapted layers sit in the model: each module name up to its layer index
    /// (`bert.encoder.layer`, `model.layers`), which differs between architectures.
    var layerContainers: Set<String> {
        Set(
            updates.keys.compactMap { name in
                let parts = name.split(separator: ".")
                guard let index = parts.indices.first(where: { $0 + 1 < parts.count && Int(parts[$0 + 1]) != nil }) else { return nil }
                return parts[...index].joined(separator: ".")
            })
    }

    /// Refuses adapters made for different architectures (a BERT adapter with a Llama one):
    /// their modules sit in different layer stacks, so combining them makes an adapter no model
    /// can load, and comparing them compares nothing.
    public static func checkSameArchitecture(_ inputs: [AdapterUpdates]) throws {
        guard let first = inputs.first(where: { !$0.layerContainers.isEmpty }) else { return }
        for other in inputs where !other.layerContainers.isEmpty && other.layerContainers.isDisjoint(with: first.layerContainers) {
            throw AdapterError(
                file: other.label,
                "adapts \(other.layerContainers.sorted().joined(separator: ", ")).*, but "
                    + "\(first.label) adapts \(first.layerContainers.sorted().joined(separator: ", ")).*: "
                    + "they are for different model architectures")
        }
    }
}
