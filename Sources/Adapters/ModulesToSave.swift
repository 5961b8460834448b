import Models
import TrainingCore

/// PEFT's `modules_to_save`: whole modules (usually the classification head) trained alongside an
/// adapter and saved with it in full. Every method follows the same rules; only the saved key's
/// prefix differs: `base_model.model.` for LoRA, IA3 and bottleneck, `base_model.` for prompt
/// learning.
public enum ModulesToSave {
    /// The base's Linear modules that `entries` name (``covers(_:module:)``).
    static func select(_ entries: [String], in base: AdaptableModel) -> Set<String> {
        Set(entries.flatMap { entry in base.linearModuleNames.filter { covers(entry, module: $0) } })
    }

    /// Whether the `modules_to_save` entry `entry` takes the Linear module `module`: as PEFT
    /// matches, the entry names the module (equal, or ending in "." + entry) or a module holding
    /// it (RoBERTa's `classifier` holds `classifier.dense` and `classifier.out_proj`).
    public static func covers(_ entry: String, module: String) -> Bool {
        module == entry || module.hasSuffix("." + entry) || module.hasPrefix(entry + ".") || module.contains("." + entry + ".")
    }

    /// Replaces each module `entries` select with a trainable copy (a 4-bit weight dequantized),
    /// with the values a saved folder holds in `weights` when given.
    static func trainInFull(
        _ entries: [String], in base: AdaptableModel, keyPrefix: String, weights: [String: Tensor]?,
        file: String
    ) throws -> [(String, Tensor)] {
        let selected = select(entries, in: base)
        var trained: [(String, Tensor)] = []
        for name in base.linearModuleNames where selected.contains(name) {
            try base.updateLinear(name) { layer in
                let weightKey = keyPrefix + name + ".weight", biasKey = keyPrefix + name + ".bias"
                // A loaded adapter must carry what its config promises: falling back to the base's
                // values would serve an untrained (for a new head, random) module silently.
                if let weights {
                    guard weights[weightKey] != nil else {
                        throw AdapterError(file: file, "\"modules_to_save\" names \(name) but the adapter has no tensor \(weightKey)")
                    }
                    guard layer.bias == nil || weights[biasKey] != nil else {
                        throw AdapterError(file: file, "\"modules_to_save\" names \(name) but the adapter has no tensor \(biasKey)")
                    }
                }
                // A saved classification head may have its own number of outputs (another task's
                // labels); any other module feeds the next layer and must keep its shape.
                let savedShape = weights?[weightKey]?.shape
                let isHead = name == base.classificationHeadName
                let outFeatures =
                    savedShape.flatMap { isHead && $0.count == 2 && $0[1] == layer.inFeatures ? $0[0] : nil }
                    ?? layer.outFeatures
                let shape = [outFeatures, layer.inFeatures]
                let values = weights?[weightKey]?.values ?? layer.weight.denseValues()
                guard values.count == shape.reduce(1, *) else { throw AdapterError(file: file, "\(weightKey) does not fit \(shape)") }
                let w = Tensor(values, shape: shape, requiresGrad: true, name: weightKey)
                layer.weight = .dense(w)
                trained.append((weightKey, w))
                if let bias = layer.bias {
                    let stored = weights?[biasKey]?.values ?? bias.values
                    guard stored.count == outFeatures else { throw AdapterError(file: file, "\(biasKey) does not fit [\(outFeatures)]") }
                    let b = Tensor(stored, shape: [outFeatures], requiresGrad: true, name: biasKey)
                    layer.bias = b
                    trained.append((biasKey, b))
                }
            }
        }
        return trained
    }
}
