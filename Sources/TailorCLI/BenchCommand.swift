import Adapters
import ArgumentParser
import Foundation
import Inference
import Training
import SafeTensors
import TrainingCore
import Workflows

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training, inference or adapter switching.",
        discussion: """
            Runs a model folder on random token ids: "train" times training steps (forward, \
            loss, backward, AdamW) of --method, "infer" times forward passes. Prints tokens/s; the \
            --json object has tokens_per_s. "switch" attaches each --adapter (registry references \
            are decompressed in memory) to one BERT base and times the load, a switch of the \
            active adapter, a batch on one adapter against a batch mixing all of them row by \
            row, and folding the first adapter into the base. Scripts/bench compares these with \
            PyTorch and PEFT.

            Examples:
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --batch 16 --seq 128 --steps 5
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method lora
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method qlora --json
              tailor bench infer --model fixtures/tiny-llama --batch 4 --seq 64 --json
              tailor bench switch --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter a --adapter b --adapter c --adapter d \
            --registry /tmp/reg
            """
    )

    @Argument(help: "train, infer or switch.")
    var mode: String

    @Option(help: "The model folder.")
    var model: String

    @Option(help: ArgumentHelp("Training method: full; lora (r 8, alpha 32, dropout 0.05 on query+value / q_proj+v_proj, "
                               + "classifier trained); qlora (that LoRA on an NF4 base); dora; ia3 (PEFT's default targets)."))
    var method = "full"

    @Option(help: "Sequences per step.")
    var batch = 16

    @Option(help: "Tokens per sequence.")
    var seq = 128

    @Option(help: "Timed steps (after one warm-up step).")
    var steps = 5

    @Option(help: "switch: an adapter to attach (repeatable; folder or registry reference).") var adapter: [String] = []
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if mode == "switch" {
            guard !adapter.isEmpty else { throw ValidationError("switch needs at least one --adapter") }
        } else {
            guard StepBenchmark.Mode(rawValue: mode) != nil else {
                throw ValidationError("mode must be train, infer or switch, not '\(mode)'")
            }
        }
        guard StepBenchmark.Method(rawValue: method) != nil else {
            throw ValidationError("--method must be one of \(StepBenchmark.Method.allCases.map(\.rawValue).joined(separator: ", ")), "
                                  + "not '\(method)'")
        }
        guard batch > 0, seq > 0, steps > 0 else { throw ValidationError("--batch, --seq and --steps must be positive") }
    }

    func run() throws {
        try reportingErrors {
            if mode == "switch" { return try runSwitch() }
            let bar = ProgressBar(label: "bench", quiet: outputOptions.json)
            let result = try StepBenchmark.run(folder: model, mode: StepBenchmark.Mode(rawValue: mode)!,
                                               method: StepBenchmark.Method(rawValue: method)!, batch: batch, length: seq,
                                               steps: steps) { done, _ in bar.update(done: done, total: steps) }
            bar.finish()
            if outputOptions.json {
                try outputOptions.emit(result)
            } else {
                print(String(format: "%@ %@: %.0f tokens/s (%.3f s/step, batch %d × %d tokens, %d steps; OpenBLAS %@, %d threads)",
                                     mode, method, result.tokensPerSecond, result.secondsPerStep, batch, seq, steps, BLAS.coreName,
                                     Parallel.workers))
                print(String(format: "time: GEMM %.0f%%, 4-bit dequantize %.0f%%, optimizer %.0f%%, "
                             + "other (norms, softmax, GELU, attention glue, loss) %.0f%%",
                             result.gemmShare * 100, result.dequantizeShare * 100, result.optimizerShare * 100, result.otherShare * 100))
                print(String(format: "base weights: %.1f MB, of which Linear layers %.1f MB", Double(result.baseWeightBytes) / 1e6,
                             Double(result.linearWeightBytes) / 1e6))
            }
        }
    }
}

extension BenchCommand {
    func runSwitch() throws {
        let resolver = AdapterResolver(model: model, registryRoot: registryOptions.root, force: false)
        let loads = adapter.map { reference in { try resolver.resolve(AdapterStack.Member(reference: reference)).files } }
        let result = try SwitchBenchmark.run(folder: model, adapters: loads, batch: batch, length: seq, steps: steps)
        if outputOptions.json {
            try outputOptions.emit(result)
        } else {
            print(String(format: "load (registry → attached): best %.2f ms, worst adapter %.2f ms", (result.loadSeconds.min() ?? 0) * 1e3,
                         (result.loadSeconds.max() ?? 0) * 1e3))
            print(String(format: "switch: %.3f µs", result.switchSeconds * 1e6))
            print(String(format: "batch %d × %d: one adapter %.0f tokens/s, %d adapters mixed %.0f tokens/s (%.2fx)", batch, seq,
                         result.singleTokensPerSecond, adapter.count, result.mixedTokensPerSecond,
                         result.mixedTokensPerSecond / result.singleTokensPerSecond))
            print(String(format: "fold the first adapter into the base: %.1f ms", result.mergeSeconds * 1e3))
        }
    }
}
