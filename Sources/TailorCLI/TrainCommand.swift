import Diagnostics
import Adapters
import ArgumentParser
import Foundation
import Registry
import Quantization
import SafeTensors
import Training
import TrainingCore
import Workflows

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune: LoRA, QLoRA, DoRA, IA3, prompt, full….",
        discussion: """
            Trains on a CSV or JSONL file ("text"[, "text_pair"], "label" for classification; \
            "text", or "prompt" + "completion" with the loss on the completion, for causal LM). \
            A LoRA run writes a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) \
            that Python PEFT loads; full and BitFit runs write a model folder. Also writes \
            metrics.jsonl, report.html and checkpoint-N folders. Ctrl-C saves a checkpoint and stops; \
            --resume continues from the latest one with the same losses. --stack puts frozen \
            adapters (folders or registry references, NAME:WEIGHT) under the one being trained; \
            apply the same stack plus the new adapter at inference.

            Examples:
              tailor train --model ~/.cache/tailor/all-MiniLM-L6-v2 --task classification \\
                --data fixtures/sentiment/train.jsonl --method lora --r 8 --alpha 32 \\
                --target-modules query,value --lora-dropout 0.05 --modules-to-save classifier \\
                --epochs 3 --batch-size 8 --eval-strategy epoch --output runs/sentiment
              tailor train --model fixtures/tiny-llama --task causal-lm --data notes.jsonl --method lora \\
                --target-modules all-linear --quantize nf4 --output runs/qlora --json
              tailor train --model fixtures/tiny-llama --task causal-lm --data style.jsonl \
                --stack notes@prod:0.8 --output runs/style-on-notes
            """
    )

    @Option(help: "The base model folder.") var model: String
    @Option(help: "classification or causal-lm.") var task = "classification"
    @Option(help: "Training data (CSV or JSONL).") var data: String
    @Option(help: "Validation data; without it --val-split takes a seeded part of --data.") var validation: String?
    @Option(help: "Fraction of --data held out for validation when evaluating.") var valSplit: Double = 0.1
    @Option(help: "Output folder.") var output: String

    @Option(help: "lora, dora, ia3, prompt, prefix, bottleneck, bitfit or full.") var method = "lora"
    @Option(help: "Virtual tokens of prompt and prefix tuning.") var virtualTokens = 20
    @Option(help: "Hidden size of bottleneck adapters.") var bottleneckSize = 64
    @Option(help: "Save the adapter in f32, bf16 or f16.") var saveDtype = "f32"
    @Option(help: "LoRA rank.") var r = 8
    @Option(help: "LoRA alpha (scale = alpha / r).") var alpha: Double = 16
    @Option(help: "Modules to adapt: names (comma-separated), all-linear, or re:REGEX.") var targetModules = "all-linear"
    @Option(help: "Modules to leave out (names, comma-separated).") var excludeModules: String?
    @Option(help: "Dropout on the LoRA input.") var loraDropout: Float = 0
    @Option(help: "Modules trained in full and saved with the adapter (e.g. classifier).") var modulesToSave: String?
    @Flag(help: "Scale by alpha / √r (rsLoRA).") var useRslora = false
    @Option(help: "Also train biases, saved as PEFT does: none, all (every bias, LayerNorm's too) or lora_only (the adapted layers').")
    var bias = "none"
    @Option(help: ArgumentHelp("LoRA init: kaiming (A Kaiming-uniform, B zero; PEFT's default), gaussian, or pissa "
                               + "(top singular vectors; the base keeps the residual)."))
    var initLoraWeights = "kaiming"
    @Option(help: "Quantize the frozen base to nf4 or fp4 (QLoRA).") var quantize: String?

    @Option(help: "Epochs.") var epochs: Double = 3
    @Option(help: "Examples per step.") var batchSize = 8
    @Option(help: "Gradient accumulation steps.") var gradAccum = 1
    @Option(help: "Peak learning rate.") var lr: Float = 2e-4
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0
    @Option(help: "Warmup as a fraction of all steps.") var warmupRatio: Double = 0
    @Option(help: "Warmup steps (overrides --warmup-ratio).") var warmupSteps: Int?
    @Option(help: "constant, linear or cosine.") var scheduler = "linear"
    @Option(help: "Gradient-norm clipping (0: off).") var maxGradNorm: Float = 1
    @Option(help: "Truncate inputs to this many tokens (128; at most what the model's positions allow).") var maxLength: Int?
    @Option(help: "no, steps or epoch.") var evalStrategy = "no"
    @Option(help: "Evaluate every N steps (--eval-strategy steps).") var evalSteps = 500
    @Option(help: "Checkpoint every N steps (0: at evaluations only).") var saveSteps = 0
    @Option(help: "Report the loss every N steps (the first step always).") var loggingSteps = 10
    @Option(help: "Keep at most N checkpoints (the best is kept).") var saveTotalLimit: Int?
    @Option(help: "Stop after N evaluations without improvement.") var earlyStoppingPatience: Int?
    @Option(help: "Metric for best/early stopping: accuracy, f1, loss, perplexity.") var metric: String?
    @Option(help: "Smallest improvement that counts.") var earlyStoppingThreshold: Double = 0
    @Flag(help: "Restore the best checkpoint at the end.") var loadBestAtEnd = false
    @Option(help: "Random seed (data order, initialisation, dropout).") var seed: UInt64 = 42
    @Flag(help: "Continue from the latest checkpoint in --output.") var resume = false
    @Flag(help: "Start afresh in an --output that holds an earlier run (its checkpoints, logs and result are removed first).")
    var overwrite = false

    @Option(help: ArgumentHelp("A frozen adapter under the one trained (repeatable; folder or registry reference, NAME:WEIGHT).",
                               valueName: "adapter[:weight]")) var stack: [String] = []
    @Flag(help: "Use --stack registry adapters even if they were trained on a different base model.") var force = false
    @Option(help: "Store the trained adapter in the registry under this name when training completes.") var register: String?
    @Option(help: "Tags for the registered version (repeatable).") var registerTag: [String] = []
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if let register {
            guard !["full", "bitfit"].contains(method) else {
                throw ValidationError("--register stores adapters; --method \(method) writes a whole model")
            }
            do { try AdapterStore.checkName(register) } catch { throw ValidationError("--register: \(error)") }
            for tag in registerTag { do { try AdapterStore.checkTag(tag) } catch { throw ValidationError("--register-tag: \(error)") } }
        }
        guard Dataset.Task(rawValue: task) != nil else { throw ValidationError("--task must be classification or causal-lm") }
        guard TaskModel.Method(rawValue: method) != nil else {
            throw ValidationError("--method must be one of \(TaskModel.Method.allCases.map(\.rawValue).joined(separator: ", ")), "
                                  + "not '\(method)'")
        }
        guard Self.initializations[initLoraWeights] != nil else {
            throw ValidationError("--init-lora-weights must be kaiming, gaussian or pissa")
        }
        guard LoRAConfig.Bias(rawValue: bias) != nil else { throw ValidationError("--bias must be none, all or lora_only") }
        guard LearningRateSchedule.Kind(rawValue: scheduler) != nil else {
            throw ValidationError("--scheduler must be constant, linear or cosine")
        }
        guard TrainingArguments.EvalStrategy(rawValue: evalStrategy) != nil else {
            throw ValidationError("--eval-strategy must be no, steps or epoch")
        }
        if let quantize, QuantType(rawValue: quantize) == nil { throw ValidationError("--quantize must be nf4 or fp4") }
        try requireRange(r > 0, "--r", "a positive integer", r)
        try requireRange(batchSize > 0, "--batch-size", "a positive integer", batchSize)
        try requireRange(gradAccum > 0, "--grad-accum", "a positive integer", gradAccum)
        try requireRange(epochs.isFinite && epochs > 0 && epochs <= 1e6, "--epochs", "in (0, 1000000]", epochs)
        try requireRange((maxLength ?? 2) > 1, "--max-length", "at least 2", maxLength ?? 0)
        try requireRange(virtualTokens > 0, "--virtual-tokens", "a positive integer", virtualTokens)
        try requireRange(bottleneckSize > 0, "--bottleneck-size", "a positive integer", bottleneckSize)
        try requireRange(loraDropout >= 0 && loraDropout < 1, "--lora-dropout", "in [0, 1)", loraDropout)
        try requireRange(lr.isFinite && lr >= 0, "--lr", "a finite number ≥ 0", lr)
        try requireRange(alpha.isFinite && alpha > 0, "--alpha", "a finite number > 0", alpha)
        try requireRange(maxGradNorm.isFinite && maxGradNorm >= 0, "--max-grad-norm", "a finite number ≥ 0 (0: off)", maxGradNorm)
        try requireRange(weightDecay.isFinite && weightDecay >= 0, "--weight-decay", "a finite number ≥ 0", weightDecay)
        try requireRange(warmupRatio >= 0 && warmupRatio <= 1, "--warmup-ratio", "in [0, 1]", warmupRatio)
        try requireRange((warmupSteps ?? 0) >= 0, "--warmup-steps", "not negative", warmupSteps ?? 0)
        try requireRange((saveTotalLimit ?? 1) > 0, "--save-total-limit", "a positive integer", saveTotalLimit ?? 0)
        try requireRange((earlyStoppingPatience ?? 1) > 0, "--early-stopping-patience", "a positive integer", earlyStoppingPatience ?? 0)
        try requireRange(earlyStoppingThreshold.isFinite && earlyStoppingThreshold >= 0, "--early-stopping-threshold",
                         "a finite number ≥ 0", earlyStoppingThreshold)
        if targetModules.hasPrefix("re:") {
            do { _ = try Regex(String(targetModules.dropFirst(3))) } catch {
                throw ValidationError("--target-modules: invalid regex '\(targetModules.dropFirst(3))'")
            }
        }
        guard loggingSteps > 0, evalSteps > 0, saveSteps >= 0 else {
            throw ValidationError("--logging-steps and --eval-steps must be positive, --save-steps not negative")
        }
        guard valSplit > 0, valSplit < 1 else { throw ValidationError("--val-split must be between 0 and 1") }
        guard ConvertCommand.dtypeNames[saveDtype.lowercased()] != nil else {
            throw ValidationError("--save-dtype must be f32, bf16 or f16")
        }
    }

    /// What an earlier run leaves in --output; a new run must not mix with it.
    static func isRunOutput(_ name: String) -> Bool {
        name.hasPrefix("checkpoint-") || OutputFolder.isCheckpointFile(name)
            || ["metrics.jsonl", "trainer_state.json", "report.html", "adapter_config.json", "config.json"].contains(name)
    }

    func run() throws {
        try reportingErrors {
            let taskKind = Dataset.Task(rawValue: task)!
            let inputs = [model, data] + (validation.map { [$0] } ?? [])
            let outputFolder = try OutputFolder(output, inputs: inputs, overwrite: overwrite || resume, isResult: Self.isRunOutput)
            if !resume { outputFolder.removeEarlierResults() }
            var finished = false
            // A run that fails before its first checkpoint leaves no folder behind; one with
            // checkpoints keeps them (the NaN-loss stop says the last good one is kept).
            defer { if !finished { outputFolder.abandon(keeping: { $0.hasPrefix("checkpoint-") }) } }
            var trainSet = try Dataset.load(data, task: taskKind)
            var validationSet: Dataset?
            if let validation {
                validationSet = try Dataset.load(validation, task: taskKind,
                                                 knownLabels: taskKind == .classification ? trainSet.labels : nil)
            } else if evalStrategy != "no" || earlyStoppingPatience != nil {
                let split = trainSet.split(validationFraction: valSplit, seed: seed)
                trainSet = split.train
                validationSet = split.validation
                if split.overlap > 0 {
                    printWarning("\(split.overlap) validation examples also appear in the training data (\(data))")
                }
            }
            var loraConfig: LoRAConfig?
            if method == "lora" || method == "dora" {
                let targets: ModuleMatcher.Targets = targetModules == "all-linear" ? .allLinear
                    : targetModules.hasPrefix("re:") ? .regex(String(targetModules.dropFirst(3))) : .names(Self.list(targetModules))
                loraConfig = LoRAConfig(r: r, alpha: alpha, targets: targets, dropout: loraDropout, bias: LoRAConfig.Bias(rawValue: bias)!,
                                        modulesToSave: Self.list(modulesToSave ?? ""), useRSLoRA: useRslora,
                                        taskType: taskKind == .classification ? "SEQ_CLS" : "CAUSAL_LM",
                                        excludeModules: excludeModules.map { .names(Self.list($0)) },
                                        baseModel: model)
                loraConfig?.initialization = Self.initializations[initLoraWeights]!
            }
            let resolver = AdapterResolver(model: model, registryRoot: registryOptions.root, force: force)
            let taskModel = try TaskModel(folder: model, task: taskKind, method: TaskModel.Method(rawValue: method)!,
                                          loraConfig: loraConfig, quantize: quantize.flatMap(QuantType.init),
                                          labels: taskKind == .classification ? trainSet.labels : nil,
                                          maxLength: maxLength ?? 128, seed: seed,
                                          frozenStack: stack.map { try resolver.resolve(AdapterStack.Member(parsing: $0)) },
                                          bottleneckSize: bottleneckSize, virtualTokens: virtualTokens)
            taskModel.saveDType = ConvertCommand.dtypeNames[saveDtype.lowercased()]!
            if let stored = taskModel.model.replacedHeadLabels {
                printWarning("\(model)'s classifier has \(stored) labels, the data \(trainSet.labels.count): "
                             + "training a new head (as transformers' ignore_mismatched_sizes)")
            }
            if let maxLength, taskModel.maxLength < maxLength {
                printWarning("--max-length \(maxLength) exceeds the \(taskModel.maxLength) positions \(model) has for input tokens; "
                             + "truncating at \(taskModel.maxLength)")
            }
            var arguments = TrainingArguments()
            arguments.epochs = epochs
            arguments.batchSize = batchSize
            arguments.gradientAccumulation = gradAccum
            arguments.learningRate = lr
            arguments.weightDecay = weightDecay
            arguments.warmupRatio = warmupRatio
            arguments.warmupSteps = warmupSteps
            arguments.scheduler = LearningRateSchedule.Kind(rawValue: scheduler)!
            arguments.maxGradNorm = maxGradNorm
            arguments.evalStrategy = TrainingArguments.EvalStrategy(rawValue: evalStrategy)!
            arguments.evalSteps = evalSteps
            arguments.saveSteps = saveSteps
            arguments.loggingSteps = loggingSteps
            arguments.saveTotalLimit = saveTotalLimit
            arguments.earlyStoppingPatience = earlyStoppingPatience
            arguments.metric = metric
            arguments.earlyStoppingThreshold = earlyStoppingThreshold
            arguments.loadBestAtEnd = loadBestAtEnd
            arguments.seed = seed
            let stop = StopToken()
            let trainer = try Trainer(model: taskModel, train: trainSet, validation: validationSet, arguments: arguments, output: output,
                                      stop: stop)
            if resume, try !trainer.resume() { printWarning("no checkpoint in \(output); starting from the beginning") }
            let counts = taskModel.parameterCounts
            let summary = String(format: "trainable params: %@ || all params: %@ || trainable%%: %.4f", groupedDigits(counts.trainable),
                                 groupedDigits(counts.total), 100 * Double(counts.trainable) / Double(max(counts.total, 1)))
            if outputOptions.json {
                outputOptions.emit(.object(["event": .string("start"), "trainable_parameters": .int(counts.trainable),
                                            "total_parameters": .int(counts.total), "examples": .int(trainSet.examples.count),
                                            "validation_examples": .int(validationSet?.examples.count ?? 0),
                                            "steps": .int(trainer.totalSteps)]))
            } else {
                print(summary)
                print("\(trainSet.examples.count) training examples\(validationSet.map { ", \($0.examples.count) validation" } ?? ""), "
                      + "\(trainer.totalSteps) steps")
            }
            // SIGINT and SIGTERM save a checkpoint and stop after the current step.
            Interrupts.stopGracefully { stop.request() }
            let progress = TrainingProgress(quiet: outputOptions.json)
            try trainer.run { event in
                if outputOptions.json {
                    var object: [String: PythonJSONText.Value] = ["event": .string(event.kind.rawValue), "step": .int(event.step),
                                                                  "total_steps": .int(event.totalSteps), "epoch": .double(event.epoch)]
                    for (key, value) in event.values { object[key] = .double(value) }
                    if let message = event.message { object["message"] = .string(message) }
                    outputOptions.emit(.object(object))
                } else {
                    progress.show(event)
                }
            }
            progress.finish()
            if trainer.stopped {
                if !outputOptions.json { print("stopped; checkpoint in \(output), continue with --resume") }
                // An interrupted run is not a successful one: a script must not register it.
                finished = true
                throw ExitCode(Interrupts.received == 0 ? 130 : Interrupts.exitCode)
            }
            finished = true
            if !outputOptions.json { print("saved to \(output) (report: \(output)/report.html)") }
            if let register {
                let version = try registryOptions.open().add(folder: output, name: register, tags: registerTag, base: model)
                if outputOptions.json {
                    outputOptions.emit(.object(["event": .string("registered"), "name": .string(version.name),
                                                "version": .int(version.version)]))
                } else {
                    print("registered " + version.line)
                }
            }
        }
    }

    static let initializations: [String: LoRAConfig.Initialization] = ["kaiming": .kaiming, "gaussian": .gaussian, "pissa": .pissa]

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

