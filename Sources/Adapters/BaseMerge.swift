import Models
import TrainingCore

/// Folding adapters into the base's weights for deploy (PEFT's merge_and_unload). Every method
/// that can be merged makes a Linear layer affine in its input (LoRA and PiSSA add s·B·A, DoRA
/// rescales rows of W + s·B·A, IA3 scales inputs or outputs), so the merged layer is read off the
/// adapted layer itself: its output for the zero input is the new bias, and its outputs for the
/// identity matrix, less that bias, are the new weight's columns. One code path serves every
/// method, stacks of adapters, and 4-bit bases (merged into the dequantized weight); for an
/// untouched layer it reproduces W and b exactly (1·w plus zeros). Untouched layers and layers
/// with plain LoRA alone skip the identity pass (W as is; W + w·s·B·A by one GEMM).
public enum BaseMerge {
    /// The layer's effective weight `[out, in]` and bias with its adapters folded in. `name` is the
    /// layer's module name, which an error names (a model is no file).
    public static func fold(_ layer: LinearLayer, name: String = "Linear layer") throws -> (weight: [Float], bias: [Float]?) {
        if layer.adapters.contains(where: { $0 is BottleneckLinear }) {
            throw AdapterError(file: name, "bottleneck adapters are nonlinear (down, activation, up) and cannot be merged into a weight")
        }
        if layer.adapters.isEmpty { return (layer.weight.denseValues(), layer.bias?.values) }
        // Plain LoRA (the common case) adds w·s·B·A: one GEMM each instead of the identity pass.
        if layer.adapters.allSatisfy({ ($0 as? LoRALinear).map { $0.magnitude == nil && $0.enabled } ?? false }) {
            var weight = layer.weight.denseValues()
            for case let lora as LoRALinear in layer.adapters {
                weight.withUnsafeMutableBufferPointer { w in
                    BLAS.sgemm(
                        .none, .none, m: layer.outFeatures, n: layer.inFeatures, k: lora.rank, alpha: lora.scale * lora.stackWeight,
                        a: lora.b.data, lda: lora.rank, b: lora.a.data, ldb: layer.inFeatures, beta: 1, c: w.baseAddress!,
                        ldc: layer.inFeatures)
                }
            }
            return (weight, layer.bias?.values)
        }
        let (inFeatures, outFeatures) = (layer.inFeatures, layer.outFeatures)
        var identity = [Float](repeating: 0, count: inFeatures * inFeatures)
        for i in 0..<inFeatures { identity[i * inFeatures + i] = 1 }
        let graph = Graph(recording: false)
        let columns = graph.linear(Tensor(identity, shape: [inFeatures, inFeatures]), layer).values
        let offset = graph.linear(Tensor(zeros: [1, inFeatures]), layer).values
        var weight = [Float](repeating: 0, count: outFeatures * inFeatures)
        for i in 0..<inFeatures {
            for o in 0..<outFeatures { weight[o * inFeatures + i] = columns[i * outFeatures + o] - offset[o] }
        }
        let hasBias = layer.bias != nil || offset.contains { $0 != 0 }
        return (weight, hasBias ? offset : nil)
    }

    /// Folds every adapted Linear layer of `model` in place and removes its adapters: PEFT's
    /// `merge_and_unload`, leaving the other layers (and their mmapped weights) untouched.
    public static func mergeAndUnload(_ model: AdaptableModel) throws {
        for name in model.linearModuleNames {
            guard let layer = model.linear(named: name), !layer.adapters.isEmpty else { continue }
            let (weight, bias) = try fold(layer, name: name)
            model.updateLinear(name) { layer in
                layer.weight = .dense(Tensor(weight, shape: [layer.outFeatures, layer.inFeatures], name: name + ".weight"))
                layer.bias = bias.map { Tensor($0, shape: [$0.count], name: name + ".bias") }
                layer.adapters = []
            }
        }
    }

    /// Every parameter of the adapted `model` under its Hugging Face name, Linear layers folded:
    /// what a plain model folder holds. Prompt and prefix tuning change the input, not a weight,
    /// and are refused.
    public static func mergedParameters(of model: any TransformerModel) throws -> [(name: String, values: [Float], shape: [Int])] {
        try heldParameters(of: model).map { name, values, shape in
            let stored = model.checkpointLayout(name, values: values, shape: shape)
            return (name, stored.values, stored.shape)
        }
    }

    /// ``mergedParameters(of:)`` in the layout held in memory (every Linear `[out, in]`).
    static func heldParameters(of model: any TransformerModel) throws -> [(name: String, values: [Float], shape: [Int])] {
        guard model.virtualTokens == nil, model.prefix == nil else {
            throw AdapterError(
                file: "prompt_embeddings",
                "prompt and prefix tuning change the input, not a weight, so they cannot be "
                    + "merged into weights")
        }
        var folded: [String: (values: [Float], shape: [Int])] = [:]
        for name in model.linearModuleNames {
            guard let layer = model.linear(named: name) else { continue }
            let (weight, bias) = try fold(layer, name: name)
            // A huge stack weight (a:1e38) overflows: a deployed model must not output NaN.
            guard weight.allSatisfy(\.isFinite), bias?.allSatisfy(\.isFinite) ?? true else {
                throw AdapterError(file: name, "the merged weight overflows to infinity or NaN (check the adapter weights)")
            }
            folded[name + ".weight"] = (weight, [layer.outFeatures, layer.inFeatures])
            if let bias { folded[name + ".bias"] = (bias, [layer.outFeatures]) }
        }
        // Norm biases an adapter trained (bias="all") replace the base's, like a Linear's bias.
        for name in model.normBiasNames {
            if let bias = model.normBias(named: name) { folded[name] = (bias.values, bias.shape) }
        }
        var out: [(name: String, values: [Float], shape: [Int])] = []
        var written = Set<String>()
        for (name, tensor) in model.namedParameters where !written.contains(name) {
            written.insert(name)
            if let merged = folded[name] {
                out.append((name, merged.values, merged.shape))
            } else {
                out.append((name, tensor.values, tensor.shape))
            }
        }
        for (name, weight) in model.storedTensors where !written.contains(name) {
            written.insert(name)
            out.append((name, weight.widened(), [weight.outFeatures, weight.inFeatures]))
        }
        // 4-bit weights (and biases a merge created) are not among the dense parameters.
        for name in folded.keys.sorted() where !written.contains(name) {
            if let tied = model.tiedOutputModule, name == tied + ".weight" {
                // The output layer shares the embedding table: a folded update cannot be written
                // without changing the inputs' embeddings too.
                guard model.linear(named: tied)?.adapters.isEmpty ?? true else {
                    throw AdapterError(
                        file: tied,
                        "is tied to the word embeddings (tie_word_embeddings), so an adapter on it "
                            + "cannot be merged")
                }
                continue
            }
            out.append((name, folded[name]!.values, folded[name]!.shape))
        }
        return out
    }
}
