import Models
import SafeTensors
import TrainingCore

/// A LoRA adapter from a fully fine-tuned model, as mergekit extracts one: per Linear module the
/// weight difference ΔW = W_tuned − W_base, truncated to its top `rank` singular directions,
/// A = √S·Vh and B = U·√S with lora_alpha = r (scale 1), so s·B·A is the best rank-r
/// approximation of ΔW. Linear modules the tuned model has but the base lacks (a new
/// classification head) are saved in full; biases and norms are not represented, and the
/// relative error of the kept part is reported per module.
public enum LoRAExtraction {
    public struct Result {
        public var adapter: LoRAModel
        /// Per adapted module: ‖ΔW − B·A‖ / ‖ΔW‖.
        public var relativeErrors: [(module: String, error: Double)]
    }

    /// `inFull` names modules to save whole instead of factoring (heads the base checkpoint does
    /// not hold, which the loader initialised at random).
    public static func extract(
        base: AdaptableModel, tuned: AdaptableModel, rank: Int, inFull: Set<String> = [], taskType: String?,
        baseModel: String?
    ) throws -> Result {
        var lora = ScaleOneLoRA(rank: rank)
        var errors: [(String, Double)] = []
        let baseNames = Set(base.linearModuleNames)
        var modulesToSave: [String] = []
        for name in tuned.linearModuleNames {
            guard let tunedLayer = tuned.linear(named: name) else { continue }
            guard baseNames.contains(name), !inFull.contains(name), let baseLayer = base.linear(named: name) else {
                modulesToSave.append(name)
                continue
            }
            let (out, inFeatures) = (tunedLayer.outFeatures, tunedLayer.inFeatures)
            guard baseLayer.outFeatures == out, baseLayer.inFeatures == inFeatures else {
                throw AdapterError(
                    file: name,
                    "shape [\(out), \(inFeatures)] in the tuned model, "
                        + "[\(baseLayer.outFeatures), \(baseLayer.inFeatures)] in the base")
            }
            let w = tunedLayer.weight.denseValues(), w0 = baseLayer.weight.denseValues()
            let delta = zip(w, w0).map { $0 - $1 }
            guard delta.contains(where: { $0 != 0 }) else { continue }
            // Infinite weights (or a difference that overflows) would be written as infinite factors.
            guard delta.allSatisfy(\.isFinite) else {
                throw AdapterError(file: name, "the weight difference holds NaN or infinite values (a diverged fine-tune?)")
            }
            let factors = try LowRankFactors(delta, rows: out, columns: inFeatures, rank: rank, name: name)
            guard factors.a.allSatisfy(\.isFinite), factors.b.allSatisfy(\.isFinite) else {
                throw AdapterError(file: name, "the low-rank factors are not finite (the difference is too large for f32)")
            }
            errors.append((name, factors.relativeError))
            lora.add(name, a: factors.a, b: factors.b, rank: factors.rank, out: out, inFeatures: inFeatures)
        }
        var weights = lora.weights
        for name in modulesToSave {
            guard let layer = tuned.linear(named: name) else { continue }
            weights["base_model.model.\(name).weight"] = Tensor(layer.weight.denseValues(), shape: [layer.outFeatures, layer.inFeatures])
            if let bias = layer.bias { weights["base_model.model.\(name).bias"] = Tensor(bias.values, shape: bias.shape) }
        }
        guard !lora.targets.isEmpty else { throw AdapterError(file: "tuned model", "no Linear weight differs from the base") }
        let config = lora.config(modulesToSave: modulesToSave, taskType: taskType, baseModel: baseModel)
        let adapter = try LoRAModel(base: base, config: config, weights: weights)
        return Result(adapter: adapter, relativeErrors: errors)
    }
}

extension LoRAExtraction {
    /// What extracting from two model folders gives: the adapter, the head it was made for, the
    /// modules saved whole, and the label names of a classifier.
    public struct FolderResult {
        public var extraction: Result
        public var head: ModelHead
        public var savedInFull: [String]
        public var labels: [String]?
    }

    /// Extracts from the fine-tuned folder `tuned` against the base folder `base`: the head comes
    /// from the tuned folder's `architectures` (within what the base's family has), and Linear
    /// modules the base checkpoint does not hold (a head the loader initialised at random) are
    /// saved whole.
    public static func extract(baseFolder base: String, tunedFolder tuned: String, rank: Int) throws -> FolderResult {
        let tunedConfig = try ConfigReader(path: tuned + "/config.json")
        let head = try ModelFamilies.family(ofFolder: base).head(savedIn: tunedConfig)
        let labels = try tunedConfig.labels()
        let baseModel = try ModelLoader.load(folder: base, head: head, labels: labels)
        let tunedModel = try ModelLoader.load(folder: tuned, head: head, labels: labels)
        guard type(of: baseModel) == type(of: tunedModel) else { throw AdapterError(file: tuned, "not the same architecture as \(base)") }
        let baseCheckpoint = try Checkpoint.open(base)
        // A BertModel checkpoint names "embeddings…" what the classifier calls "bert.embeddings…".
        let inFull = Set(
            tunedModel.linearModuleNames.filter { name in
                ![name, String(name.drop { $0 != "." }.dropFirst())].contains { baseCheckpoint.info($0 + ".weight") != nil }
            })
        let result = try extract(
            base: baseModel, tuned: tunedModel, rank: rank, inFull: inFull, taskType: head.peftTaskType,
            baseModel: base)
        return FolderResult(
            extraction: result, head: head, savedInFull: inFull.sorted(),
            labels: head == .sequenceClassification ? labels : nil)
    }
}
