import ArgumentParser
import Diagnostics
import Foundation
import Quantization
import SafeTensors

struct DequantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dequantize",
        abstract: "Turn a 4-bit model back into plain weights.",
        discussion: """
            Reads a 4-bit folder written by transformers + bitsandbytes (or by tailor quantize) \
            and writes the same model with every 4-bit weight dequantized under its original \
            name, loadable by transformers without bitsandbytes. config.json loses its \
            quantization_config; the other files are copied.

            Examples:
              tailor dequantize ~/models/llama-nf4 --output ~/models/llama-deq
              tailor dequantize minilm-nf4 --output minilm-bf16 --dtype bf16 --json
            """
    )

    @Argument(help: "The 4-bit model folder.")
    var model: String

    @Option(help: "Output folder.")
    var output: String

    @Option(help: "Dtype of the dequantized weights: f32, f16 or bf16 (default: each weight's original dtype).")
    var dtype: FloatDType?

    @Flag(help: "Replace the result already in the output (old shards it leaves over are removed once the new one is complete).")
    var overwrite = false
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let target = dtype?.dtype
            let progress = ProgressBar(label: "dequantizing", quiet: outputOptions.json)
            let start = Date()
            let report = try ModelDequantizer.dequantize(
                folder: model, outputFolder: output, dtype: target,
                overwrite: overwrite
            ) { done, total in
                progress.update(done: done, total: total)
            }
            progress.finish()
            let seconds = Date().timeIntervalSince(start)
            if outputOptions.json {
                outputOptions.emit(
                    .object([
                        "model": .string(model), "output": .string(output), "dequantized": .int(report.dequantized.count),
                        "kept": .int(report.keptTensors), "bytes_before": .int(report.bytesBefore),
                        "bytes_after": .int(report.bytesAfter), "seconds": .double(seconds),
                        "files": .array(report.outputFiles.map { .string($0) }),
                    ]))
            } else {
                print(
                    "dequantized \(report.dequantized.count) weights, kept \(report.keptTensors) tensors; "
                        + "\(formatBytes(report.bytesBefore)) → \(formatBytes(report.bytesAfter)) "
                        + "in \(String(format: "%.2f s", seconds))")
                for file in report.outputFiles { print("  wrote \(file)") }
            }
        }
    }
}
