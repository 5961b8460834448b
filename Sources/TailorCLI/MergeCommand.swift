import Adapters
import ArgumentParser
import Foundation
import Inference
import Models
import Quantization
import SafeTensors

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge an adapter into its base model for deploy.",
        discussion: """
            Folds the adapter (LoRA, PiSSA, DoRA or IA3; a registry reference or a folder) into \
            every Linear weight of the base, in f32, and writes a Hugging Face model folder that \
            transformers loads without PEFT, in f32, f16 or bf16. A 4-bit base is merged into its \
            dequantized weights. Prints the largest logit difference between the merged model \
            and base + adapter on a random sample. Merging adapters into a new adapter is not \
            part of this command yet; --into-base is required.

            Examples:
              tailor merge --into-base --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter runs/sentiment --output deploy/minilm-sentiment
              tailor merge --into-base --model fixtures/tiny-llama --adapter notes@prod --dtype bf16 --output deploy/llama-notes --json
            """
    )

    @Flag(help: "Merge into the base model's weights (the mode this command has).") var intoBase = false
    @Option(help: "The base model folder.") var model: String
    @Option(help: "The adapter: a PEFT folder, or a registry reference (NAME, NAME@N, NAME@TAG).") var adapter: String
    @Option(help: "The model folder to create.") var output: String
    @Option(help: "Weights dtype of the merged model: f32, f16, bf16, or nf4 (merged in f32, then quantized once as tailor quantize does).")
    var dtype = "f32"
    @Flag(help: "Merge a registry adapter even if it was trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard intoBase else { throw ValidationError("--into-base is required: merging adapters into a new adapter is not available yet") }
        guard ["f32", "f16", "bf16", "nf4"].contains(dtype) else { throw ValidationError("--dtype must be f32, f16, bf16 or nf4") }
    }

    func run() throws {
        try reportingErrors {
            guard !FileManager.default.fileExists(atPath: output) else { throw UsageProblem(description: "\(output): already exists") }
            let source = try AdapterSource(adapter, model: model, registry: registryOptions, force: force)
            let folder = source.path!
            let (loaded, classification) = try PEFTAdapterFolder.loadWithBase(folder, base: model)
            let labels = try PEFTAdapterFolder.labels(in: folder)
            let isBert: Bool
            if case .bert = loaded { isBert = true } else { isBert = false }
            let unmerged = ModelSample.logits(loaded, classification: classification)
            let target: DType = ["f16": .f16, "bf16": .bf16][dtype] ?? .f32
            var tensors: [TensorData] = []
            for (name, values, shape) in try BaseMerge.mergedParameters(of: loaded) {
                var bytes = [UInt8](repeating: 0, count: values.count * target.bitSize / 8)
                try values.withUnsafeBytes { raw in
                    try bytes.withUnsafeMutableBytes { try DTypeConversion.convert(raw, from: .f32, into: $0, as: target, file: output, tensor: name) }
                }
                tensors.append(TensorData(name: name, dtype: target, shape: shape, bytes: bytes))
            }
            let scratch = output + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
            try? FileManager.default.removeItem(atPath: scratch)
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            do {
                try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: scratch + "/model.safetensors")
                _ = try ModelFolder.copyCompanions(of: Checkpoint.open(model), into: scratch) { json in
                    json["torch_dtype"] = nil
                    json["dtype"] = .string(["f16": "float16", "bf16": "bfloat16"][dtype] ?? "float32")
                    json["quantization_config"] = nil
                    if classification, let labels {
                        json["id2label"] = .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), .string($1)) }))
                        json["label2id"] = .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, .int($0)) }))
                        json["architectures"] = .array([.string(isBert ? "BertForSequenceClassification" : "LlamaForSequenceClassification")])
                    }
                }
                var written = scratch
                if dtype == "nf4" {
                    // Merge into the dequantized weights once, quantize once: QLoRA's deploy path.
                    written = scratch + "-nf4"
                    try? FileManager.default.removeItem(atPath: written)
                    _ = try ModelQuantizer.quantize(modelFolder: scratch, outputFolder: written, options: ModelQuantizer.Options())
                    try FileManager.default.removeItem(atPath: scratch)
                    guard rename(written, scratch) == 0 else { throw UsageProblem(description: "\(scratch): cannot replace the f32 merge") }
                    written = scratch
                }
                let merged = try ModelLoader.load(folder: written, task: classification ? .sequenceClassification : .causalLM)
                let change = ModelSample.compare(unmerged, ModelSample.logits(merged, classification: classification))
                guard rename(scratch, output) == 0 else { throw UsageProblem(description: "\(output): cannot move the merged model into place") }
                if outputOptions.json {
                    outputOptions.emit(.object(["output": .string(output), "dtype": .string(dtype), "tensors": .int(tensors.count),
                                                "max_logit_difference": .double(Double(change.maxChange)),
                                                "mean_logit_difference": .double(Double(change.meanChange))]))
                } else {
                    print("merged \(adapter) into \(model): \(output) (\(tensors.count) tensors, \(dtype))")
                    print(String(format: "merged vs base + adapter: logits differ by at most %.3g (mean %.3g) on a random sample",
                                 change.maxChange, change.meanChange))
                }
            } catch {
                try? FileManager.default.removeItem(atPath: scratch)
                throw error
            }
        }
    }
}
