import ArgumentParser
import Diagnostics
import Foundation
import SafeTensors

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert float tensors to bf16, f16 or f32.",
        discussion: """
            Converts F32, F16, BF16 and F64 tensors (all of them, or those whose name matches \
            --only) with PyTorch's rounding (nearest even; NaN and overflow as torch's \
            tensor.to(dtype)). Integer, float8 and 4-bit tensors and the metadata are kept. \
            Streams tensor by tensor; the output appears only when complete.

            IN is a file, a model folder or a sharded checkpoint. A file converts to the file OUT \
            (or into OUT when it is a folder); a folder converts into the folder OUT with the same \
            file names, a fresh index and copies of the folder's other files (config.json, \
            tokenizer files). --max-shard-size re-splits the output into shards as \
            transformers' save_pretrained does.

            Examples:
              tailor convert model.safetensors model-bf16.safetensors --dtype bf16
              tailor convert ~/models/llama ~/models/llama-f16 --dtype f16 --only 'layers\\.'
              tailor convert model.safetensors sharded/ --dtype f32 --max-shard-size 2GB
            """
    )

    @Argument(help: "The checkpoint to read.")
    var input: String

    @Argument(help: "Where to write: a .safetensors file or a folder.")
    var output: String

    @Option(help: "Target dtype: bf16, f16 or f32.")
    var dtype: FloatDType

    @Option(help: "Convert only tensors whose name contains a match of this regular expression.")
    var only: String?

    @Option(help: "Split the output into shards of at most this size (e.g. 500MB, 5GB).")
    var maxShardSize: String?

    @Flag(help: "Replace the result already in the output (old shards it leaves over are removed once the new one is complete).")
    var overwrite = false
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let target = dtype.dtype
            let pattern: Regex<AnyRegexOutput>?
            do { pattern = try only.map { try Regex($0) } } catch {
                throw UsageProblem(description: "--only: invalid regular expression '\(only!)': \(error)")
            }
            let shardLimit = try maxShardSize.map(parseByteSize)
            let checkpoint = try Checkpoint.open(input)
            let progress = ProgressBar(label: "converting", quiet: outputOptions.json)
            let start = Date()
            let report = try CheckpointConversion.convert(
                checkpoint, to: target, output: output, only: pattern,
                maxShardBytes: shardLimit, overwrite: overwrite
            ) { done, total in
                progress.update(done: done, total: total)
            }
            progress.finish()
            let seconds = Date().timeIntervalSince(start)
            if outputOptions.json {
                outputOptions.emit(
                    .object([
                        "input": .string(input), "output": .string(output), "dtype": .string(target.rawValue),
                        "converted": .int(report.converted.count), "kept": .int(report.kept.count),
                        "bytes_read": .int(report.bytesRead), "bytes_written": .int(report.bytesWritten),
                        "files": .array(report.outputFiles.map { .string($0) }), "seconds": .double(seconds),
                    ]))
            } else {
                print(
                    "converted \(report.converted.count) tensors to \(target.rawValue), kept \(report.kept.count); "
                        + "\(formatBytes(report.bytesRead)) → \(formatBytes(report.bytesWritten)) in "
                        + (seconds < 1 ? String(format: "%.1f ms", seconds * 1000) : String(format: "%.2f s", seconds)))
                for file in report.outputFiles { print("  wrote \(file)") }
            }
        }
    }
}
