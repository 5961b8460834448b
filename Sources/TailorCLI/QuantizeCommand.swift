import ArgumentParser
import Diagnostics
import Foundation
import Quantization
import SafeTensors

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model to 4-bit NF4/FP4 (bitsandbytes).",
        discussion: """
            Writes a model folder that transformers loads with from_pretrained (bitsandbytes \
            installed), as if saved after BitsAndBytesConfig(load_in_4bit=True, \
            bnb_4bit_quant_type=…, bnb_4bit_use_double_quant=…, bnb_4bit_compute_dtype=…). Every \
            Linear weight is quantized except the output head (lm_head) and --skip-modules; \
            embeddings, norms and biases keep their dtype. Streams tensor by tensor and prints \
            the size before and after and the quantization error.

            Examples:
              tailor quantize ~/models/all-MiniLM-L6-v2 --output ~/models/minilm-nf4
              tailor quantize ~/models/llama --output llama-fp4 --type fp4 --no-double-quant --compute-dtype f16
              tailor quantize ~/models/bert-cls --output bert-nf4 --skip-modules classifier --json
            """
    )

    @Argument(help: "The model folder (config.json + safetensors).")
    var model: String

    @Option(help: "Output folder.")
    var output: String

    @Option(help: "4-bit type: nf4 or fp4.")
    var type: QuantType = .nf4

    @Option(help: "Values per absmax block: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize = 64

    @Flag(inversion: .prefixedNo, help: "Quantize the absmax statistics too (QLoRA's double quantization).")
    var doubleQuant = true

    @Option(help: "bnb_4bit_compute_dtype: bf16, f16 or f32.")
    var computeDtype = FloatDType(.bf16)

    @Option(help: "Comma-separated modules to keep unquantized (e.g. classifier,score).")
    var skipModules: String?

    @Flag(help: "Replace the result already in the output (old shards it leaves over are removed once the new one is complete).")
    var overwrite = false
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard BlockwiseQuantization.supportedBlockSizes.contains(blocksize) else {
            throw ValidationError(
                "--blocksize must be one of "
                    + "\(BlockwiseQuantization.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
    }

    func run() throws {
        try reportingErrors {
            var options = ModelQuantizer.Options()
            options.type = type
            options.blockSize = blocksize
            options.doubleQuantization = doubleQuant
            options.computeDType = computeDtype.dtype
            options.skipModules =
                skipModules?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty } ?? []
            let progress = ProgressBar(label: "quantizing", quiet: outputOptions.json)
            let start = Date()
            let report = try ModelQuantizer.quantize(
                modelFolder: model, outputFolder: output, options: options,
                overwrite: overwrite
            ) { done, total in
                progress.update(done: done, total: total)
            }
            progress.finish()
            let seconds = Date().timeIntervalSince(start)
            let overall = report.overall
            if outputOptions.json {
                outputOptions.emit(
                    .object([
                        "model": .string(model), "output": .string(output), "quant_type": .string(options.type.rawValue),
                        "blocksize": .int(options.blockSize), "double_quant": .bool(options.doubleQuantization),
                        "quantized": .int(report.weights.count), "kept": .int(report.keptTensors),
                        "bytes_before": .int(report.bytesBefore), "bytes_after": .int(report.bytesAfter),
                        "rmse": .double(overall?.rmse ?? 0), "max_abs_error": .double(overall?.maxAbsoluteError ?? 0),
                        "snr_db": .double(overall?.snrDecibels ?? 0), "seconds": .double(seconds),
                        "weights": .array(
                            report.weights.map { weight in
                                .object([
                                    "name": .string(weight.name), "shape": .array(weight.shape.map { .int($0) }),
                                    "rmse": .double(weight.statistics.rmse), "max_abs_error": .double(weight.statistics.maxAbsoluteError),
                                    "snr_db": .double(weight.statistics.snrDecibels),
                                ])
                            }),
                        "files": .array(report.outputFiles.map { .string($0) }),
                    ]))
                return
            }
            print(
                "quantized \(report.weights.count) Linear weights to \(options.type.rawValue.uppercased()) "
                    + "(block \(options.blockSize)\(options.doubleQuantization ? ", double quant" : "")), "
                    + "kept \(report.keptTensors) tensors "
                    + "in \(String(format: "%.2f s", seconds))")
            print(
                "size: \(formatBytes(report.bytesBefore)) → \(formatBytes(report.bytesAfter)) "
                    + String(format: "(%.2f×)", Double(report.bytesBefore) / Double(max(report.bytesAfter, 1))))
            if let overall {
                print(
                    String(
                        format: "error: RMSE %.3g, max |error| %.3g, SNR %.1f dB (all quantized weights)",
                        overall.rmse, overall.maxAbsoluteError, overall.snrDecibels))
                if let worst = report.weights.min(by: { $0.statistics.snrDecibels < $1.statistics.snrDecibels }) {
                    print(String(format: "lowest SNR: %@ %.1f dB", worst.name, worst.statistics.snrDecibels))
                }
            }
            for file in report.outputFiles { print("  wrote \(file)") }
        }
    }
}
