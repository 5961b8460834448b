import Adapters
import ArgumentParser
import Collectives
import Diagnostics
import Foundation
import Quantization
import Registry
import SafeTensors
import Training
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

            Started by mpirun (Open MPI, detected from its environment, or --distributed mpi), \
            the processes train data-parallel: --batch-size is the global batch, each rank takes \
            its share, gradients are summed with MPI_Allreduce before every step, and rank 0 alone \
            writes the output, prints and registers. The result is that of one process.

            Examples:
              tailor train --model ~/.cache/tailor/all-MiniLM-L6-v2 --task classification \\
                --data fixtures/sentiment/train.jsonl --method lora --r 8 --alpha 32 \\
                --target-modules query,value --lora-dropout 0.05 --modules-to-save classifier \\
                --epochs 3 --batch-size 8 --eval-strategy epoch --output runs/sentiment
              tailor train --model fixtures/tiny-llama --task causal-lm --data notes.jsonl --method lora \\
                --target-modules all-linear --quantize nf4 --output runs/qlora --json
              tailor train --model fixtures/tiny-llama --task causal-lm --data style.jsonl \\
                --stack notes@prod:0.8 --output runs/style-on-notes
              mpirun -np 2 --hostfile hosts tailor train --model ~/models/minilm \\
                --data fixtures/sentiment/train.jsonl --target-modules query,value \\
                --modules-to-save classifier --batch-size 16 --output runs/dp \\
                --register sentiment
            """
    )

    @Option(help: "The base model folder.") var model: String
    @Option(help: "What to train the model for.") var task: Dataset.Task = .classification
    @Option(help: "Training data (CSV or JSONL).") var data: String
    @Option(help: "Validation data; without it --val-split takes a seeded part of --data.") var validation: String?
    @Option(help: "Fraction of --data held out for validation when evaluating.") var valSplit: Double = 0.1
    @Option(help: "Output folder.") var output: String

    @Option(help: "The fine-tuning method.") var method: TaskModel.Method = .lora
    @Option(help: "Virtual tokens of prompt and prefix tuning.") var virtualTokens = 20
    @Option(help: "Hidden size of bottleneck adapters.") var bottleneckSize = 64
    @Option(help: "Save the adapter in f32, bf16 or f16.") var saveDtype = FloatDType(.f32)
    @Option(help: "LoRA rank.") var r = 8
    @Option(help: "LoRA alpha (scale = alpha / r).") var alpha: Double = 16
    @Option(help: "Modules to adapt: names (comma-separated), all-linear, or re:REGEX.") var targetModules = "all-linear"
    @Option(help: "Modules to leave out (names, comma-separated).") var excludeModules: String?
    @Option(help: "Dropout on the LoRA input.") var loraDropout: Float = 0
    @Option(help: "Modules trained in full and saved with the adapter (e.g. classifier).") var modulesToSave: String?
    @Flag(help: "Scale by alpha / √r (rsLoRA).") var useRslora = false
    @Option(help: "Also train biases, saved as PEFT does: none, all (every bias, LayerNorm's too) or lora_only (the adapted layers').")
    var bias: LoRAConfig.Bias = .none
    @Option(
        help: ArgumentHelp(
            "LoRA init: kaiming (A Kaiming-uniform, B zero; PEFT's default), gaussian, or pissa "
                + "(top singular vectors; the base keeps the residual)."))
    var initLoraWeights: LoRAConfig.Initialization.Choice = .kaiming
    @Option(help: "Quantize the frozen base to 4 bits (QLoRA).") var quantize: QuantType?
    @Option(help: "Truncate inputs to this many tokens (128; at most what the model's positions allow).") var maxLength: Int?
    @Option(help: "Question answering: tokens that neighbouring windows of a long context share.") var docStride: Int?
    @OptionGroup var training: TrainingOptions
    @Flag(help: "Continue from the latest checkpoint in --output.") var resume = false
    @Flag(help: "Start afresh in an --output that holds an earlier run (its checkpoints, logs and result are removed first).")
    var overwrite = false

    @Option(
        help: ArgumentHelp(
            "A frozen adapter under the one trained (repeatable; folder or registry reference, NAME:WEIGHT).",
            valueName: "adapter[:weight]")) var stack: [String] = []
    @Flag(help: "Use --stack registry adapters even if they were trained on a different base model.") var force = false
    @Option(help: "Store the trained adapter in the registry under this name when training completes.") var register: String?
    @Option(help: "Tags for the registered version (repeatable).") var registerTag: [String] = []
    @OptionGroup var registryOptions: RegistryOptions
    @Option(help: "Data-parallel training: auto (MPI when started by mpirun with several ranks), none, or mpi.")
    var distributed: DistributedMode = .auto
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if let register {
            guard ![.full, .bitfit].contains(method) else {
                throw ValidationError("--register stores adapters; --method \(method.rawValue) writes a whole model")
            }
            do { try AdapterStore.checkName(register) } catch { throw ValidationError("--register: \(error)") }
            for tag in registerTag { do { try AdapterStore.checkTag(tag) } catch { throw ValidationError("--register-tag: \(error)") } }
        }
        try requireRange(r > 0, "--r", "a positive integer", r)
        try requireRange((maxLength ?? 2) > 1, "--max-length", "at least 2", maxLength ?? 0)
        try requireRange((docStride ?? 0) >= 0, "--doc-stride", "at least 0", docStride ?? 0)
        try requireRange(virtualTokens > 0, "--virtual-tokens", "a positive integer", virtualTokens)
        try requireRange(bottleneckSize > 0, "--bottleneck-size", "a positive integer", bottleneckSize)
        try requireRange(loraDropout >= 0 && loraDropout < 1, "--lora-dropout", "in [0, 1)", loraDropout)
        try requireRange(alpha.isFinite && alpha > 0, "--alpha", "a finite number > 0", alpha)
        guard valSplit > 0, valSplit < 1 else { throw ValidationError("--val-split must be between 0 and 1") }
        _ = try loraConfig()
    }

    /// The LoRA settings the flags give (the job adds the task type and base).
    func loraConfig() throws -> LoRAConfig {
        do {
            var config = LoRAConfig(
                r: r, alpha: alpha, targets: try .init(listing: targetModules, field: "--target-modules"),
                dropout: loraDropout, bias: bias, modulesToSave: modulesToSave.map(Self.list) ?? [],
                useRSLoRA: useRslora, excludeModules: try excludeModules.map { try .init(listing: $0, field: "--exclude-modules") })
            config.initialization = initLoraWeights.initialization
            return config
        } catch let error as AdapterError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        try reportingErrors {
            let communicator = try distributed.communicator()
            try Self.abortingEveryRank(on: communicator) { try train(communicator) }
        }
    }

    /// Runs `body`; with several ranks, an error on this one is printed (naming the rank) and
    /// ends every rank, since the others would otherwise wait for it forever.
    static func abortingEveryRank(on communicator: any Communicator, _ body: () throws -> Void) throws {
        guard communicator.size > 1 else { return try body() }
        do {
            try body()
        } catch let error where !(error is ExitCode) {
            let rank = communicator.isRoot ? "" : "rank \(communicator.rank) of \(communicator.size): "
            printError(rank + oneLine(error), file: fileNamed(by: error))
            communicator.abort(code: 1)
        }
    }

    /// The training run; only rank 0 prints.
    func train(_ communicator: any Communicator) throws {
        var job = TrainingJob(model: model, data: data, output: output, registryRoot: registryOptions.root)
        job.task = task
        job.validation = validation
        job.validationFraction = valSplit
        job.method = method
        job.lora = try loraConfig()
        job.quantize = quantize
        job.virtualTokens = virtualTokens
        job.bottleneckSize = bottleneckSize
        job.saveDType = saveDtype.dtype
        job.maxLength = maxLength
        job.docStride = docStride
        job.arguments = training.arguments
        job.stack = stack
        job.force = force
        job.register = register
        job.registerTags = registerTag
        job.overwrite = overwrite
        job.resume = resume
        job.communicator = communicator
        let stop = StopToken()
        let prints = communicator.isRoot
        let progress = TrainingProgress(quiet: outputOptions.json || !prints)
        let outcome = try job.run(
            stop: stop, warn: { if prints { printWarning($0) } },
            started: { start in
                if prints { show(start) }
                // SIGINT and SIGTERM save a checkpoint and stop after the current step.
                Interrupts.stopGracefully { stop.request() }
            },
            events: { event in
                if !prints { return }
                if outputOptions.json { outputOptions.emit(Self.json(event)) } else { progress.show(event) }
            })
        progress.finish()
        if outcome.stopped {
            if !outputOptions.json, prints { print("stopped; checkpoint in \(output), continue with --resume") }
            throw ExitCode(Interrupts.received == 0 ? 130 : Interrupts.exitCode)
        }
        if !outputOptions.json, prints { print("saved to \(output) (report: \(output)/report.html)") }
        if let version = outcome.registered {
            if outputOptions.json {
                outputOptions.emit(
                    .object([
                        "event": .string("registered"), "name": .string(version.name),
                        "version": .int(version.version),
                    ]))
            } else {
                print("registered " + version.line)
            }
        }
    }

    func show(_ start: TrainingJob.Start) {
        if outputOptions.json {
            outputOptions.emit(
                .object([
                    "event": .string("start"), "trainable_parameters": .int(start.trainableParameters),
                    "total_parameters": .int(start.totalParameters), "examples": .int(start.examples),
                    "validation_examples": .int(start.validationExamples), "steps": .int(start.steps),
                ]))
            return
        }
        let share = 100 * Double(start.trainableParameters) / Double(max(start.totalParameters, 1))
        print(
            String(
                format: "trainable params: %@ || all params: %@ || trainable%%: %.4f", groupedDigits(start.trainableParameters),
                groupedDigits(start.totalParameters), share))
        let validation = start.validationExamples > 0 ? ", \(start.validationExamples) validation" : ""
        print("\(start.examples) training examples\(validation), \(start.steps) steps")
    }

    static func json(_ event: Trainer.Event) -> PythonJSONText.Value {
        var object: [String: PythonJSONText.Value] = [
            "event": .string(event.kind.rawValue), "step": .int(event.step),
            "total_steps": .int(event.totalSteps), "epoch": .double(event.epoch),
        ]
        for (key, value) in event.values { object[key] = .double(value) }
        if let message = event.message { object["message"] = .string(message) }
        return .object(object)
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
