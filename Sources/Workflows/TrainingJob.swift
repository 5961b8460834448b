import Adapters
import Collectives
import Foundation
import Quantization
import Registry
import SafeTensors
import Training

/// One `tailor train` run as a library call: the data loaded (and split when evaluating without a
/// validation file), the model and method set up, the trainer run into an output folder that
/// appears only once there is something to keep, and the adapter registered when asked.
public struct TrainingJob {
    public var model: String
    public var task: Dataset.Task = .classification
    public var data: String
    /// Validation data; without it, evaluating takes `validationFraction` of `data` (seeded).
    public var validation: String?
    public var validationFraction = 0.1
    public var output: String
    public var method: TaskModel.Method = .lora
    /// LoRA and DoRA settings; `baseModel` and `taskType` are filled in by the job.
    public var lora = LoRAConfig(r: 8, alpha: 16, targets: .allLinear)
    public var quantize: QuantType?
    public var virtualTokens = 20
    public var bottleneckSize = 64
    public var saveDType: DType = .f32
    /// Truncation length (nil: 128, at most what the model's positions allow).
    public var maxLength: Int?
    /// Question answering: tokens that neighbouring windows of a long context share.
    public var docStride: Int?
    public var arguments = TrainingArguments()
    /// Frozen adapters under the trained one: folders or registry references, `REF:WEIGHT`.
    public var stack: [String] = []
    /// Use registry adapters trained on another base anyway.
    public var force = false
    public var registryRoot: String
    /// Store the trained adapter in the registry under this name when training completes.
    public var register: String?
    public var registerTags: [String] = []
    /// Start afresh in an output folder that holds an earlier run.
    public var overwrite = false
    /// Continue from the latest checkpoint in the output folder.
    public var resume = false
    /// The ranks training data-parallel (`mpirun`); rank 0 alone writes the output and registers.
    public var communicator: any Communicator = SingleProcess()

    public static let defaultMaxLength = 128

    /// What is about to be trained, reported before the first step.
    public struct Start: Codable, Sendable {
        public var trainableParameters: Int
        public var totalParameters: Int
        public var examples: Int
        public var validationExamples: Int
        public var steps: Int

        enum CodingKeys: String, CodingKey {
            case trainableParameters = "trainable_parameters", totalParameters = "total_parameters", examples
            case validationExamples = "validation_examples", steps
        }
    }

    public struct Outcome {
        /// The run ended on a stop request, with a checkpoint to resume from.
        public var stopped: Bool
        public var registered: AdapterStore.Version?
    }

    public init(model: String, data: String, output: String, registryRoot: String) {
        (self.model, self.data, self.output, self.registryRoot) = (model, data, output, registryRoot)
    }

    /// What an earlier run leaves in the output folder; a new run must not mix with it.
    public static func isRunOutput(_ name: String) -> Bool {
        name.hasPrefix("checkpoint-") || OutputFolder.isCheckpointFile(name)
            || ["metrics.jsonl", "trainer_state.json", "report.html", "adapter_config.json", "config.json"].contains(name)
    }

    /// Runs the job. `warn` gets problems worth a line that do not stop it; `started` is called
    /// once set-up is done (the place to start honouring `stop`); `events` gets every trainer
    /// event. A run that fails before its first checkpoint leaves no output folder behind.
    public func run(
        stop: StopToken, warn: (String) -> Void, started: (Start) -> Void,
        events: (Trainer.Event) -> Void
    ) throws -> Outcome {
        let inputs = [model, data] + (validation.map { [$0] } ?? [])
        let outputFolder =
            communicator.isRoot ? try OutputFolder(output, inputs: inputs, overwrite: overwrite || resume, isResult: Self.isRunOutput) : nil
        if !resume { outputFolder?.removeEarlierResults() }
        var finished = false
        // One with checkpoints keeps them (the NaN-loss stop says the last good one is kept).
        defer { if !finished { outputFolder?.abandon(keeping: { $0.hasPrefix("checkpoint-") }) } }
        var trainSet = try Dataset.load(data, task: task)
        var validationSet: Dataset?
        if let validation {
            validationSet = try Dataset.load(validation, task: task, knownLabels: task.hasLabels ? trainSet.labels : nil)
        } else if arguments.evalStrategy != .no || arguments.earlyStoppingPatience != nil {
            let split = trainSet.split(validationFraction: validationFraction, seed: arguments.seed)
            trainSet = split.train
            validationSet = split.validation
            if split.overlap > 0 { warn("\(split.overlap) validation examples also appear in the training data (\(data))") }
        }
        var loraConfig: LoRAConfig?
        if method == .lora || method == .dora {
            var config = lora
            config.taskType = task.head.peftTaskType
            config.baseModel = model
            loraConfig = config
        }
        let resolver = AdapterResolver(model: model, registryRoot: registryRoot, force: force)
        let taskModel = try TaskModel(
            folder: model, task: task, method: method, loraConfig: loraConfig, quantize: quantize,
            labels: task.hasLabels ? trainSet.labels : nil,
            maxLength: maxLength ?? Self.defaultMaxLength, seed: arguments.seed,
            frozenStack: try resolver.resolve(references: stack), bottleneckSize: bottleneckSize,
            virtualTokens: virtualTokens)
        taskModel.saveDType = saveDType
        if let docStride { taskModel.docStride = docStride }
        if let stored = taskModel.model.replacedHeadLabels {
            warn(
                "\(model)'s classification head has \(stored) labels, the data \(trainSet.labels.count): "
                    + "training a new head (as transformers' ignore_mismatched_sizes)")
        }
        if let maxLength, taskModel.maxLength < maxLength {
            warn(
                "a maximum length of \(maxLength) exceeds the \(taskModel.maxLength) positions \(model) has for input tokens; "
                    + "truncating at \(taskModel.maxLength)")
        }
        let trainer = try Trainer(
            model: taskModel, train: trainSet, validation: validationSet, arguments: arguments, output: output,
            stop: stop, communicator: communicator)
        if resume, try !trainer.resume() { warn("no checkpoint in \(output); starting from the beginning") }
        let counts = taskModel.parameterCounts
        started(
            Start(
                trainableParameters: counts.trainable, totalParameters: counts.total, examples: trainSet.examples.count,
                validationExamples: validationSet?.examples.count ?? 0, steps: trainer.totalSteps))
        try trainer.run(events)
        // An interrupted run keeps its checkpoint but is not a result: it is never registered.
        finished = true
        if trainer.stopped || !communicator.isRoot { return Outcome(stopped: trainer.stopped, registered: nil) }
        let registered = try register.map {
            try AdapterStore(root: registryRoot).add(
                folder: output, name: $0, tags: registerTags,
                base: model)
        }
        return Outcome(stopped: false, registered: registered)
    }
}
