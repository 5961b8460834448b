import ArgumentParser
import Foundation
import Training
import SafeTensors
import TrainingCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training or inference tokens/s.",
        discussion: """
            Runs a model folder on random token ids: "train" times training steps (forward, \
            loss, backward, AdamW) of --method, "infer" times forward passes. Prints tokens/s; the \
            --json object has tokens_per_s. Scripts/bench compares it with PyTorch.

            Examples:
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --batch 16 --seq 128 --steps 5
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method lora
              tailor bench train --model ~/.cache/tailor/all-MiniLM-L6-v2 --method qlora --json
              tailor bench infer --model fixtures/tiny-llama --batch 4 --seq 64 --json
            """
    )

    @Argument(help: "train or infer.")
    var mode: String

    @Option(help: "The model folder.")
    var model: String

    @Option(help: "Training method: full; lora (r 8, alpha 32, dropout 0.05 on query+value / q_proj+v_proj, classifier trained); qlora (that LoRA on an NF4 base); dora; ia3 (PEFT's default targets).")
    var method = "full"

    @Option(help: "Sequences per step.")
    var batch = 16

    @Option(help: "Tokens per sequence.")
    var seq = 128

    @Option(help: "Timed steps (after one warm-up step).")
    var steps = 5

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard StepBenchmark.Mode(rawValue: mode) != nil else { throw ValidationError("mode must be train or infer, not '\(mode)'") }
        guard StepBenchmark.Method(rawValue: method) != nil else {
            throw ValidationError("--method must be one of \(StepBenchmark.Method.allCases.map(\.rawValue).joined(separator: ", ")), not '\(method)'")
        }
        guard batch > 0, seq > 0, steps > 0 else { throw ValidationError("--batch, --seq and --steps must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let bar = ProgressBar(label: "bench", quiet: outputOptions.json)
            let result = try StepBenchmark.run(folder: model, mode: StepBenchmark.Mode(rawValue: mode)!,
                                               method: StepBenchmark.Method(rawValue: method)!, batch: batch, length: seq,
                                               steps: steps) { done, _ in bar.update(done: done, total: steps) }
            bar.finish()
            if outputOptions.json {
                var object: [String: PythonJSONText.Value] = [
                    "mode": .string(mode), "method": .string(method), "batch": .int(batch), "seq": .int(seq), "steps": .int(steps),
                    "tokens_per_s": .double(result.tokensPerSecond), "seconds_per_step": .double(result.secondsPerStep),
                    "blas": .string(BLAS.coreName), "threads": .int(Parallel.workers), "gemm_share": .double(result.gemmShare),
                    "optimizer_share": .double(result.optimizerShare), "other_share": .double(result.otherShare),
                    "base_weight_bytes": .int(result.baseWeightBytes), "linear_weight_bytes": .int(result.linearWeightBytes),
                ]
                if let loss = result.finalLoss { object["loss"] = .double(Double(loss)) }
                outputOptions.emit(.object(object))
            } else {
                print(String(format: "%@ %@: %.0f tokens/s (%.3f s/step, batch %d × %d tokens, %d steps; OpenBLAS %@, %d threads)",
                             mode, method, result.tokensPerSecond, result.secondsPerStep, batch, seq, steps, BLAS.coreName, Parallel.workers))
                print(String(format: "time: GEMM %.0f%%, optimizer %.0f%%, other (norms, softmax, GELU, attention glue, loss) %.0f%%",
                             result.gemmShare * 100, result.optimizerShare * 100, result.otherShare * 100))
                print(String(format: "base weights: %.1f MB, of which Linear layers %.1f MB", Double(result.baseWeightBytes) / 1e6,
                             Double(result.linearWeightBytes) / 1e6))
            }
        }
    }
}
