import ArgumentParser
import Foundation
import Inference
import Models
import Quantization
import SafeTensors
import Tokenizers
import TrainingCore

/// The main job end to end on the tiny model in `fixtures/`. It grows with the product: today it
/// exercises the checkpoint format (inspect, convert, re-shard, verify, read back) and QLoRA's
/// 4-bit base (quantize to NF4, read back, dequantize).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the main job on the tiny model in fixtures/.",
        discussion: """
            Inspects the tiny BERT in fixtures/tiny-bert, converts it to bf16 and measures the \
            rounding error, re-splits it into shards with an index as transformers writes them, \
            verifies every output and reads the shards back as one checkpoint, then quantizes it \
            to NF4 with double quantization (the QLoRA base), reads the 4-bit folder back and \
            dequantizes it; then classifies two sentences, fine-tunes the tiny BERT for a few \
            AdamW steps on them with our training core, and generates with the tiny Llama.

            Examples:
              tailor demo
              tailor demo --model ~/models/all-MiniLM-L6-v2 --output /tmp/demo --json
            """
    )

    @Option(help: "The model folder to run on.")
    var model = "fixtures/tiny-bert"

    @Option(help: "A causal LM folder for the generation step.")
    var llama = "fixtures/tiny-llama"

    @Option(help: "Folder for the demo's outputs (replaced).")
    var output = ".demo-output"

    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let say: (String) -> Void = { line in if !outputOptions.json { print(line) } }
            try? FileManager.default.removeItem(atPath: output)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)

            say("== 1. inspect \(model)")
            let original = try Checkpoint.open(model)
            let summary = CheckpointSummary(original)
            say("   \(original.tensorNames.count) tensors, \(groupedDigits(summary.elementCount)) parameters, "
                + "\(formatBytes(summary.totalTensorBytes)), kind: \(summary.kind.label)")

            say("== 2. convert to bf16 → \(output)/bf16")
            let start = Date()
            let bf16Report = try CheckpointConversion.convert(original, to: .bf16, output: output + "/bf16")
            let convertSeconds = Date().timeIntervalSince(start)
            let bf16 = try Checkpoint.open(output + "/bf16")
            var maxError: Float = 0
            var maxRelative: Float = 0
            for name in original.tensorNames where original.info(name)!.dtype == .f32 {
                let reference = try original.tensor(name).floats()
                let rounded = try bf16.tensor(name).floats()
                for (a, b) in zip(reference, rounded) {
                    maxError = max(maxError, abs(a - b))
                    if a != 0 { maxRelative = max(maxRelative, abs(a - b) / abs(a)) }
                }
            }
            say("   \(bf16Report.converted.count) tensors converted, \(formatBytes(bf16Report.bytesRead)) → "
                + "\(formatBytes(bf16Report.bytesWritten)) in \(String(format: "%.1f ms", convertSeconds * 1000))")
            say("   max |f32 − bf16| = \(maxError), max relative error = \(maxRelative) (bf16 keeps 8 significant bits: ≤ 2^-8 = 0.0039)")

            let shardLimit = max(summary.totalTensorBytes / 3, 1)
            say("== 3. re-shard (max \(formatBytes(shardLimit)) per shard) → \(output)/sharded")
            let shardReport = try CheckpointConversion.convert(original, to: .f32, output: output + "/sharded",
                                                               maxShardBytes: shardLimit)
            for file in shardReport.outputFiles { say("   wrote \(file)") }

            say("== 4. verify and read back")
            let sharded = try Checkpoint.open(output + "/sharded")
            var identical = sharded.tensorNames.count == original.tensorNames.count
            for name in original.tensorNames {
                identical = try identical && sharded.tensor(name).data == original.tensor(name).data
            }
            let shardCount: Int
            if case .sharded(_, let shards) = sharded.layout { shardCount = shards.count } else { shardCount = 1 }
            say("   \(output)/bf16: ok; \(output)/sharded: ok, \(shardCount) shards, tensors identical to the original: \(identical)")
            guard identical, maxRelative <= 1.0 / 256 else {
                throw UsageProblem(description: "demo check failed: identical=\(identical), max relative bf16 error \(maxRelative)")
            }

            say("== 5. quantize to NF4 + double quantization → \(output)/nf4")
            let quantized = try ModelQuantizer.quantize(modelFolder: model, outputFolder: output + "/nf4", options: ModelQuantizer.Options())
            let overall = quantized.overall
            say("   \(quantized.weights.count) Linear weights quantized, \(quantized.keptTensors) tensors kept; "
                + "\(formatBytes(quantized.bytesBefore)) → \(formatBytes(quantized.bytesAfter))")
            say(String(format: "   error: RMSE %.3g, max |error| %.3g, SNR %.1f dB", overall?.rmse ?? 0,
                       overall?.maxAbsoluteError ?? 0, overall?.snrDecibels ?? 0))
            let fourBit = try BitsAndBytesSummary(Checkpoint.open(output + "/nf4"))
            say("   read back: \(fourBit.weights.count) 4-bit weights, \(groupedDigits(fourBit.parameterCount)) parameters")

            say("== 6. dequantize → \(output)/dequantized")
            let restored = try ModelDequantizer.dequantize(folder: output + "/nf4", outputFolder: output + "/dequantized", dtype: nil)
            say("   \(restored.dequantized.count) weights back to \(DType.f32.rawValue), loadable without bitsandbytes")
            guard fourBit.parameterCount == summary.elementCount, restored.dequantized.count == quantized.weights.count else {
                throw UsageProblem(description: "demo check failed: 4-bit read-back does not match the model")
            }

            say("== 7. classify")
            let sentences = ["what a lovely day", "the service was terrible"]
            let classifier = try TextClassifier(folder: model)
            for (sentence, result) in zip(sentences, try classifier.classify(sentences)) {
                say("   \(result.label) \(result.logits.map { String(format: "%.4f", $0) }) \(sentence)")
            }

            say("== 8. fine-tune (full, AdamW lr 1e-3, dropout off) on those two sentences")
            let tokenizer = try Tokenizer(path: model)
            let encodings = tokenizer.encodeBatch(sentences, padding: .longest)
            let batch = TokenBatch(ids: encodings.map(\.ids), mask: encodings.map { $0.attentionMask.map { $0 != 0 } },
                                   tokenTypes: encodings.map(\.typeIds))
            guard case .bert(let bert) = try ModelLoader.load(folder: model, task: .sequenceClassification, trainable: true) else {
                throw UsageProblem(description: "the demo fine-tunes a BERT model")
            }
            bert.config.hiddenDropout = 0
            bert.config.classifierDropout = 0
            let optimizer = AdamW(parameters: bert.namedParameters.map(\.1), learningRate: 1e-3)
            var losses: [Float] = []
            for _ in 0..<8 {
                optimizer.zeroGrad()
                let graph = Graph()
                let loss = graph.crossEntropy(bert.classify(graph, batch), targets: [1, 0])
                losses.append(loss.values[0])
                graph.backward(loss)
                optimizer.update()
            }
            say("   loss per step: " + losses.map { String(format: "%.4f", $0) }.joined(separator: " "))
            guard let firstLoss = losses.first, let lastLoss = losses.last, lastLoss < firstLoss else {
                throw UsageProblem(description: "demo check failed: training did not lower the loss (\(losses))")
            }

            say("== 9. generate with \(llama)")
            let generator = try TextGenerator(folder: llama)
            let generated = try generator.generate("Hello", maxNewTokens: 8, sampling: .greedy)
            say("   tokens \(generated.tokens) → \(generated.text.debugDescription) (random weights: no meaning yet)")
            if outputOptions.json {
                outputOptions.emit(.object([
                    "model": .string(model), "tensors": .int(original.tensorNames.count),
                    "parameters": .int(summary.elementCount), "bf16_max_abs_error": .double(Double(maxError)),
                    "bf16_max_relative_error": .double(Double(maxRelative)), "bf16_bytes": .int(bf16Report.bytesWritten),
                    "shards": .int(shardCount), "reshard_identical": .bool(identical),
                    "nf4_weights": .int(quantized.weights.count), "nf4_bytes": .int(quantized.bytesAfter),
                    "nf4_snr_db": .double(overall?.snrDecibels ?? 0), "dequantized": .int(restored.dequantized.count),
                    "training_losses": .array(losses.map { .double(Double($0)) }), "generated_tokens": .array(generated.tokens.map { .int($0) }),
                ]))
            }
        }
    }
}
