import Adapters
import ArgumentParser
import Diagnostics
import Foundation
import Inference
import SafeTensors
import Training
import TrainingCore
import Workflows

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training, inference, decoding, switching.",
        discussion: """
            Runs a model folder on random token ids: "train" times training steps (forward, \
            loss, backward, AdamW) of --method, "infer" times forward passes. Prints tokens/s; the \
            --json object has tokens_per_s. "switch" attaches each --adapter (registry references \
            are decompressed in memory) to one BERT base and times the load, a switch of the \
            active adapter, a batch on one adapter against a batch mixing all of them row by \
            row, and folding the first adapter into the base. "generate" loads a causal LM, \
            prefills --batch-size random prompts of --prompt-tokens and decodes --new-tokens \
            greedily: load and first-token seconds, prefill and decode tokens/s, the weight bytes \
            each decoding step reads, peak memory. Scripts/bench compares these with PyTorch and PEFT.

            Examples:
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --batch-size 16 --max-length 128 --steps 5
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method lora
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method qlora --json
              tailor bench infer --model fixtures/tiny-llama --batch-size 4 --max-length 64 --json
              tailor bench train --model ~/models/llama-3.2-1b --task causal-lm --method qlora --batch-size 1 \
            --max-length 1024 --gradient-checkpointing
              tailor bench generate --model ~/models/llama-3.2-1b --prompt-tokens 128 --new-tokens 64 --batch-size 1 --json
              tailor bench switch --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter a --adapter b --adapter c --adapter d \
            --registry /tmp/reg
            """
    )

    /// What to time: training steps, forward passes, or serving several adapters on one base.
    enum Mode: String, CaseIterable, ExpressibleByArgument { case train, infer, `switch`, generate }

    @Argument(help: "What to time.")
    var mode: Mode

    @Option(help: "The model folder.")
    var model: String

    @Option(
        help: ArgumentHelp(
            "Training method: full; lora (r 8, alpha 32, dropout 0.05 on query+value / q_proj+v_proj, "
                + "classifier trained); qlora (that LoRA on an NF4 base); dora; ia3 (PEFT's default targets)."))
    var method: StepBenchmark.Method = .full

    // --batch and --seq are the names earlier releases used.
    @Option(name: [.customLong("batch-size"), .customLong("batch")], help: "Sequences per step.")
    var batchSize = 16

    @Option(name: [.customLong("max-length"), .customLong("seq")], help: "Tokens per sequence.")
    var maxLength = 128

    @Option(help: "Timed steps (after one warm-up step).")
    var steps = 5

    @Option(help: "train/infer: the head (default: the model's own; a Llama folder trains as a causal LM).")
    var task: Dataset.Task?

    @Flag(help: "train: recompute each layer in backward instead of keeping its activations.")
    var gradientCheckpointing = false

    @Option(help: "generate: random prompt tokens per sequence.") var promptTokens = 128
    @Option(help: "generate: tokens generated per sequence (greedy).") var newTokens = 64
    @Flag(help: "generate: decode with a 4-bit (NF4) in-memory copy of the output head, as llama.cpp quantizes its output layer.")
    var quantizeHead = false
    @Option(
        name: .customLong("compute-dtype"),
        help: "f32, or bf16 as transformers computes a bfloat16 model (generate's default: torch_dtype / bnb_4bit_compute_dtype; else f32)."
    )
    var computeDType: ComputeDType?

    @Option(help: "switch: an adapter to attach (repeatable; folder or registry reference).") var adapter: [String] = []
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if mode == .switch, adapter.isEmpty { throw ValidationError("switch needs at least one --adapter") }
        try requireRange(promptTokens > 0 && newTokens > 0, "--prompt-tokens and --new-tokens", "positive", "\(promptTokens), \(newTokens)")
        guard batchSize > 0, maxLength > 0, steps > 0 else {
            throw ValidationError("--batch-size, --max-length and --steps must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            if mode == .generate { return try runGenerate() }
            guard let stepMode = StepBenchmark.Mode(rawValue: mode.rawValue) else { return try runSwitch() }
            let bar = ProgressBar(label: "bench", quiet: outputOptions.json)
            let result = try StepBenchmark.run(
                folder: model, mode: stepMode, method: method, task: task, batch: batchSize, length: maxLength,
                steps: steps, gradientCheckpointing: gradientCheckpointing, computeDType: computeDType ?? .f32
            ) { done, _ in bar.update(done: done, total: steps) }
            bar.finish()
            if outputOptions.json {
                try outputOptions.emit(result)
            } else {
                print(
                    String(
                        format: "%@ %@: %.0f tokens/s (%.3f s/step, batch %d × %d tokens, %d steps; OpenBLAS %@, %d threads)",
                        mode.rawValue, method.rawValue, result.tokensPerSecond, result.secondsPerStep, batchSize, maxLength,
                        steps, BLAS.coreName,
                        Parallel.workers))
                print(
                    String(
                        format: "time: GEMM %.0f%%, 4-bit dequantize %.0f%%, optimizer %.0f%%, "
                            + "other (norms, softmax, GELU, attention glue, loss) %.0f%%",
                        result.gemmShare * 100, result.dequantizeShare * 100, result.optimizerShare * 100, result.otherShare * 100))
                print(
                    String(
                        format: "base weights: %.1f MB, of which Linear layers %.1f MB; peak memory %@",
                        Double(result.baseWeightBytes) / 1e6, Double(result.linearWeightBytes) / 1e6,
                        formatBytes(result.peakMemoryBytes)))
            }
        }
    }
}

extension BenchCommand {
    func runSwitch() throws {
        let resolver = AdapterResolver(model: model, registryRoot: registryOptions.root, force: false)
        let loads = adapter.map { reference in { try resolver.resolve(AdapterStack.Member(reference: reference)).files } }
        let result = try SwitchBenchmark.run(folder: model, adapters: loads, batch: batchSize, length: maxLength, steps: steps)
        if outputOptions.json {
            try outputOptions.emit(result)
        } else {
            print(
                String(
                    format: "load (registry → attached): best %.2f ms, worst adapter %.2f ms", (result.loadSeconds.min() ?? 0) * 1e3,
                    (result.loadSeconds.max() ?? 0) * 1e3))
            print(String(format: "switch: %.3f µs", result.switchSeconds * 1e6))
            print(
                String(
                    format: "batch %d × %d: one adapter %.0f tokens/s, %d adapters mixed %.0f tokens/s (%.2fx)", batchSize, maxLength,
                    result.singleTokensPerSecond, adapter.count, result.mixedTokensPerSecond,
                    result.mixedTokensPerSecond / result.singleTokensPerSecond))
            print(String(format: "fold the first adapter into the base: %.1f ms", result.mergeSeconds * 1e3))
        }
    }
}

extension BenchCommand {
    func runGenerate() throws {
        let result = try GenerationBenchmark.run(
            folder: model, promptTokens: promptTokens, newTokens: newTokens, batch: batchSize, quantizeHead: quantizeHead ? .nf4 : nil,
            computeDType: computeDType)
        if outputOptions.json {
            try outputOptions.emit(result)
            return
        }
        print(
            String(
                format: "load %.2f s, first token %.2f s; prefill %.0f tokens/s, decode %.1f tokens/s (batch %d)", result.loadSeconds,
                result.firstTokenSeconds, result.prefillTokensPerSecond, result.decodeTokensPerSecond, batchSize))
        print(
            String(
                format: "weights read per decoding step: %@ (%.2f GB/s at this rate); peak memory %@",
                formatBytes(result.bytesPerToken),
                Double(result.bytesPerToken) * result.decodeTokensPerSecond / Double(batchSize) / 1e9,
                formatBytes(result.peakMemoryBytes)))
    }
}
