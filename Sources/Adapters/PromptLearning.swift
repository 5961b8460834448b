import Models
import TrainingCore

/// What PEFT's prompt-learning methods (prompt tuning, prefix tuning) share: their
/// `modules_to_save` are full trainable copies saved as `base_model.<module>.weight` (no
/// `.model` segment, unlike LoRA's keys), and their configs name the base's geometry.
enum PromptLearning {
    /// Replaces each Linear module that `modulesToSave` names with a trainable copy, taking its
    /// values from `weights` when a saved folder holds them.
    static func trainInFull(_ modulesToSave: [String], in base: AdaptableModel, weights: [String: Tensor]?) -> [(String, Tensor)] {
        var trained: [(String, Tensor)] = []
        let saved = Set(modulesToSave.flatMap { entry in base.linearModuleNames.filter { $0 == entry || $0.hasSuffix("." + entry) } })
        for name in base.linearModuleNames where saved.contains(name) {
            base.updateLinear(name) { layer in
                let weightKey = "base_model.\(name).weight", biasKey = "base_model.\(name).bias"
                let w = Tensor(weights?[weightKey]?.values ?? layer.weight.denseValues(), shape: [layer.outFeatures, layer.inFeatures],
                               requiresGrad: true, name: weightKey)
                layer.weight = .dense(w)
                trained.append((weightKey, w))
                if let bias = layer.bias {
                    let b = Tensor(weights?[biasKey]?.values ?? bias.values, shape: bias.shape, requiresGrad: true, name: biasKey)
                    layer.bias = b
                    trained.append((biasKey, b))
                }
            }
        }
        return trained
    }

    /// `modules_to_save` from a config, without repeats.
    static func modulesToSave(_ json: [String: Any]) -> [String] {
        var saved: [String] = []
        for name in (json["modules_to_save"] as? [String]) ?? [] where !saved.contains(name) { saved.append(name) }
        return saved
    }

    /// Rejects configs for encoder-decoder models, which PEFT marks with two transformer submodules.
    static func checkSingleStack(_ json: [String: Any], file: String) throws {
        if let submodules = json["num_transformer_submodules"] as? Int, submodules != 1 {
            throw AdapterError(file: file, "num_transformer_submodules \(submodules) is not supported (encoder-decoder models)")
        }
    }

    /// The geometry PEFT records: hidden size, layers, attention heads; for prefix tuning the
    /// key/value width and heads (fewer under grouped-query attention).
    struct Geometry {
        let hiddenSize, layers, heads, keyValueWidth, keyValueHeads: Int

        init(_ base: AdaptableModel, file: String) throws {
            switch base {
            case let bert as Bert:
                let c = bert.config
                (hiddenSize, layers, heads, keyValueWidth, keyValueHeads) = (c.hiddenSize, c.layers, c.heads, c.hiddenSize, c.heads)
            case let llama as Llama:
                let c = llama.config
                (hiddenSize, layers, heads, keyValueWidth, keyValueHeads) = (c.hiddenSize, c.layers, c.heads, c.kvHeads * c.headDim, c.kvHeads)
            default:
                throw AdapterError(file: file, "prompt learning supports BERT and the Llama family")
            }
        }
    }
}
