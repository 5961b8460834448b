import Adapters
import Foundation
import Models
import Quantization
import SafeTensors
import Tokenizers
import TrainingCore

/// The model being trained for one task, with whatever is trainable in it: every parameter
/// (full fine-tuning), a LoRA adapter (+ modules_to_save), or biases (BitFit).
public final class TaskModel {
    /// full: every parameter; lora/dora: low-rank updates (PEFT LoRA, DoRA); ia3: learned
    /// scaling vectors (PEFT IA3); prompt: virtual token embeddings (PEFT prompt tuning);
    /// bottleneck: Houlsby adapters; bitfit: biases only.
    public enum Method: String, Sendable, CaseIterable { case full, lora, dora, ia3, prompt, prefix, bottleneck, bitfit }

    public let folder: String
    public let task: Dataset.Task
    public let model: any TransformerModel
    public let tokenizer: Tokenizer
    public let method: Method
    /// The PEFT adapter being trained (every method but full and bitfit), saved in PEFT's layout.
    public private(set) var adapter: (any PEFTAdapter)?
    var lora: LoRAModel? { adapter as? LoRAModel }
    /// The tensors the optimizer updates, under the names they are saved with.
    public private(set) var trainable: [(String, Tensor)] = []
    public var maxLength: Int
    /// Question answering: how many tokens neighbouring windows of a long context share (nil: a
    /// quarter of ``maxLength``; transformers' run_qa uses 128 of 384).
    public var docStride: Int?
    /// Summarization: the most tokens a target (summary) is cut to, and generated up to.
    public var maxTargetLength = 64
    /// Summarization: ROUGE with rouge_score's Porter stemming (`use_stemmer=True`).
    public var rougeUsesStemmer = false
    /// Why the head's outputs mean nothing, when they do not: the folder has no trained head for
    /// the task (newly initialised, or saved for another head) and no adapter brings one.
    public private(set) var untrainedHead: String?
    /// Instruction tuning: the model's chat template (nil when the folder has none).
    public var chatTemplate: ChatTemplate?
    /// The dtype adapters are saved in (training stays f32).
    public var saveDType: DType = .f32
    let padId: Int

    /// Loads `folder` for `task`; `quantize` keeps the base's Linear weights in 4 bits (QLoRA).
    public init(
        folder: String, task: Dataset.Task, method: Method, loraConfig: LoRAConfig?, quantize: QuantType? = nil,
        labels: [String]? = nil, maxLength: Int, seed: UInt64, adapters: [(member: AdapterStack.Member, files: AdapterFiles)] = [],
        frozenStack: [(member: AdapterStack.Member, files: AdapterFiles)] = [], ia3Config: IA3Config? = nil,
        bottleneckSize: Int = 64, virtualTokens: Int = 20
    ) throws {
        self.folder = folder
        self.task = task
        self.method = method
        tokenizer = try Tokenizer(path: folder)
        if task == .instructionTuning, FileManager.default.fileExists(atPath: folder + "/tokenizer_config.json") {
            chatTemplate = try? ChatTemplate(folder: folder)
        }
        self.maxLength = maxLength
        let weights = try WeightStore(Checkpoint.open(folder))
        if let quantize {
            guard method != .full else {
                throw TrainingError(
                    file: folder,
                    "a 4-bit base must stay frozen, so full fine-tuning cannot train it: "
                        + "use LoRA (or another adapter method) or BitFit")
            }
            weights.quantizeLinearWeights = quantize
        }
        let config = try ConfigReader(path: folder + "/config.json")
        let family = try ModelFamilies.family(of: config)
        guard let taskHead = task.kind.head(for: family) else {
            let offered = Dataset.Task.allCases.filter { $0.kind.head(for: family) != nil }.map(\.rawValue)
            throw TrainingError(
                file: config.path,
                "a \(family.name) model has no head for \(task.rawValue); its tasks: "
                    + offered.joined(separator: ", "))
        }
        if family.heads.contains(.seq2seqLM), method == .prompt || method == .prefix {
            throw TrainingError(
                file: config.path, "\(method.rawValue) tuning of an encoder-decoder (\(family.name)) is not supported; use LoRA")
        }
        family.sanitize(weights)
        model = try family.load(config, weights: weights, head: taskHead, trainable: method == .full, labels: labels)
        let adaptable = model
        padId = model.padId(using: tokenizer)
        if let head = model.classificationHeadName {
            let headSaved = try (adapters + frozenStack).contains { adapter in
                ((try adapter.files.configJSON())["modules_to_save"] as? [String] ?? []).contains { ModulesToSave.covers($0, module: head) }
            }
            let saved = family.head(savedIn: config)
            if !headSaved, !model.newlyInitialized.isEmpty {
                untrainedHead =
                    "\(folder) has no trained \(model.head.rawValue) head (\(model.newlyInitialized.joined(separator: ", ")) newly "
                    + "initialized at random): its outputs mean nothing until trained"
            } else if !headSaved, saved != model.head {
                untrainedHead =
                    "\(folder) was saved with a \(saved.rawValue) head, not a \(model.head.rawValue) one: its outputs mean nothing"
            }
        }
        // A frozen stack goes in first, so the adapter trained here sits on top of it.
        _ = try AdapterStack.load(frozenStack, into: adaptable, frozen: true)
        switch method {
        case .full:
            trainable = model.namedParameters.filter { $0.1.requiresGrad }
        case .lora, .dora, .ia3, .prompt, .prefix, .bottleneck:
            let loaded: any PEFTAdapter
            // PEFT's SEQ_CLS task saves the freshly initialised head in full.
            let head = model.classificationHeadName.map { [$0] } ?? []
            let taskType = model.head.peftTaskType
            if !adapters.isEmpty {
                let stack = try AdapterStack.load(adapters, into: adaptable)
                loaded = stack.last!
                trainable = stack.dropLast().flatMap(\.trainableParameters)
            } else if method == .ia3 {
                var config = ia3Config ?? Self.defaultIA3(for: model)
                config.baseModel = config.baseModel ?? folder
                loaded = try IA3Model(base: adaptable, config: config, file: folder)
            } else if method == .prompt {
                loaded = try PromptTuningModel(
                    base: adaptable, virtualTokens: virtualTokens, modulesToSave: head, taskType: taskType,
                    baseModel: folder, seed: seed)
            } else if method == .prefix {
                loaded = try PrefixTuningModel(
                    base: adaptable, virtualTokens: virtualTokens, modulesToSave: head, taskType: taskType,
                    baseModel: folder, seed: seed)
            } else if method == .bottleneck {
                loaded = try BottleneckModel(
                    base: adaptable,
                    config: BottleneckConfig(
                        targets: BottleneckConfig.defaultTargets(for: family),
                        size: bottleneckSize, modulesToSave: head, taskType: taskType),
                    seed: seed, file: folder)
            } else {
                guard var loraConfig else { throw TrainingError(file: folder, "LoRA needs its settings") }
                loraConfig.useDoRA = method == .dora
                loraConfig.taskType = model.head.peftTaskType
                // PEFT's task models train and save their head whatever modules_to_save says.
                if !head.isEmpty {
                    loraConfig.modulesToSave += task.head.peftHeadModules.filter { !loraConfig.modulesToSave.contains($0) }
                }
                loaded = try LoRAModel(base: adaptable, config: loraConfig, seed: seed, file: folder)
            }
            self.adapter = loaded
            trainable += loaded.trainableParameters
        case .bitfit:
            for name in adaptable.linearModuleNames {
                adaptable.updateLinear(name) { layer in
                    guard let bias = layer.bias else { return }
                    let copy = Tensor(bias.values, shape: bias.shape, requiresGrad: true, name: name + ".bias")
                    layer.bias = copy
                    trainable.append((name + ".bias", copy))
                }
            }
        }
        // Learned positions end at max_position_embeddings; longer inputs are truncated there,
        // as transformers' tokenizers do at model_max_length.
        if let capacity = model.tokenCapacity { self.maxLength = min(maxLength, capacity) }
    }

    /// PEFT's default IA3 targets for the model's family; the classification head trained in full.
    static func defaultIA3(for model: any TransformerModel) -> IA3Config {
        let (targets, feedforward) = model.family.defaultIA3Targets
        return IA3Config(
            targets: .names(targets), feedforward: .names(feedforward),
            modulesToSave: model.classificationHeadName.map { [$0] } ?? [], taskType: model.head.peftTaskType)
    }

    /// Trainable and total parameters, as PEFT's `print_trainable_parameters`.
    public var parameterCounts: (trainable: Int, total: Int) {
        // Linear weights kept in their stored form (4-bit, bf16) are not among the f32 parameters;
        // a tied head's is the embedding table, counted once with the tables.
        let stored = model.linearModuleNames.reduce(0) { count, name in
            guard name != model.tiedOutputModule, let layer = model.linear(named: name) else { return count }
            if case .dense = layer.weight { return count }
            return count + layer.outFeatures * layer.inFeatures
        }
        let tables = model.storedTensors.reduce(0) { $0 + $1.weight.outFeatures * $1.weight.inFeatures }
        let base = model.namedParameters.reduce(0) { $0 + $1.1.count } + stored + tables
        return (trainable.reduce(0) { $0 + $1.1.count }, base + (adapter?.addedParameterCount ?? 0))
    }

    /// Gives every dropout a generator for (seed, step): reproducible and resumable.
    public func reseedDropout(seed: UInt64, step: Int) {
        model.reseedDropout(seed: seed, step: step)
        for (index, layer) in (lora?.layers ?? []).enumerated() {
            layer.1.rng = RandomGenerator(seed: seed, streams: UInt64(step), UInt64(index + 1))
        }
    }

    /// Refuses a dataset whose tokens fall outside the model's embedding table (a tokenizer of
    /// another model): the embedding lookup reads rows by id without a bounds check, so this is
    /// checked once, before training or evaluation, over every example.
    public func checkTokenIds(of dataset: Dataset) throws {
        try task.kind.check(dataset, for: self)
        let vocabulary = model.vocabularySize
        for start in stride(from: 0, to: dataset.examples.count, by: 256) {
            let (batch, _) = encode(Array(dataset.examples[start..<min(dataset.examples.count, start + 256)]))
            if let bad = batch.ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw TrainingError(
                    file: tokenizer.path,
                    "token id \(bad) (in \(dataset.path)) is outside the model's vocabulary of "
                        + "\(vocabulary): is this tokenizer for another model?")
            }
        }
    }

    /// A batch of examples as model inputs and per-token or per-row targets.
    public func encode(_ examples: [Example]) -> (TokenBatch, targets: [Int]) { task.kind.encode(examples, for: self) }

    /// The loss of a batch (and the logits for classification metrics).
    public func loss(_ graph: Graph, _ batch: TokenBatch, targets: [Int]) -> (loss: Tensor, logits: Tensor?) {
        model.loss(graph, batch, targets: targets)
    }

    /// How many terms the loss of this batch averages (see ``TaskKind/lossTerms(_:targets:for:)``).
    public func lossTerms(_ batch: TokenBatch, targets: [Int]) -> Int { task.kind.lossTerms(batch, targets: targets, for: self) }

    /// Counts the targets a causal-LM loss averages over (for token-weighted perplexity).
    static func predictedTokens(_ targets: [Int], batch: TokenBatch) -> Int {
        var count = 0
        for row in 0..<batch.batch {
            for t in 1..<max(batch.length, 1) where targets[row * batch.length + t] >= 0 { count += 1 }
        }
        return count
    }

    /// Saves what was trained: a PEFT adapter folder (the PEFT methods), or a full model folder (full, bitfit).
    public func save(to output: String) throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        if let adapter {
            try PEFTAdapterFolder.save(adapter, to: output, dtype: saveDType, labels: task.hasLabels ? model.labels : nil)
            return
        }
        // Every weight under its Hugging Face name in f32, the frozen ones kept in another form
        // (4-bit, bf16 in place) widened too, with the model's other files.
        let source = try Checkpoint.open(folder)
        var writer = SafeTensorsCheckpointWriter(dtype: .f32)
        for (name, values, shape) in try BaseMerge.mergedParameters(of: model) { try writer.add(name, shape: shape, values: values) }
        try writer.write(to: output + "/model.safetensors")
        _ = try ModelFolder.copyCompanions(of: source, into: output) { json in
            json["torch_dtype"] = nil
            json["dtype"] = .string("float32")
            json["quantization_config"] = nil
        }
    }
}
