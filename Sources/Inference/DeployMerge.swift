import Adapters
import Foundation
import Models
import Quantization
import SafeTensors

/// `tailor merge --into-base`: a base with an adapter stack folded into its Linear weights, written
/// as a Hugging Face model folder transformers loads without PEFT (f32, f16, bf16, or nf4: merged
/// in f32 and quantized once, QLoRA's deploy path), checked against base + adapters unmerged. The
/// folder appears whole or not at all.
public enum DeployMerge {
    /// What was written and how faithful it is; `tailor merge --into-base --json` prints it with
    /// `change` flattened into `max_logit_difference` and `mean_logit_difference`.
    public struct Report: Codable, Sendable {
        /// The model folder written.
        public var output: String
        /// f32, f16, bf16 or nf4.
        public var dtype: String
        public var tensors: Int
        /// Logits of the merged folder against base + adapters on a random sample. The sample's
        /// size is not part of the printed schema: a decoded report has `change.logits` 0.
        public var change: AdapterOutputChange.Result

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case output, dtype, tensors
            case maxLogitDifference = "max_logit_difference"
            case meanLogitDifference = "mean_logit_difference"
        }

        init(output: String, dtype: String, tensors: Int, change: AdapterOutputChange.Result) {
            self.output = output
            self.dtype = dtype
            self.tensors = tensors
            self.change = change
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            output = try container.decode(String.self, forKey: .output)
            dtype = try container.decode(String.self, forKey: .dtype)
            tensors = try container.decode(Int.self, forKey: .tensors)
            change = try AdapterOutputChange.Result(
                maxChange: container.decode(Float.self, forKey: .maxLogitDifference),
                meanChange: container.decode(Float.self, forKey: .meanLogitDifference), logits: 0)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(output, forKey: .output)
            try container.encode(dtype, forKey: .dtype)
            try container.encode(tensors, forKey: .tensors)
            try container.encode(change.maxChange, forKey: .maxLogitDifference)
            try container.encode(change.meanChange, forKey: .meanLogitDifference)
        }
    }

    public static let dtypes = ["f32", "f16", "bf16", "nf4"]

    public static func write(
        _ stack: [(member: AdapterStack.Member, files: AdapterFiles)], base: String, output: String,
        dtype: String
    ) throws -> Report {
        guard dtypes.contains(dtype) else { throw AdapterError(file: output, "dtype must be one of \(dtypes.joined(separator: ", "))") }
        guard !FileManager.default.fileExists(atPath: output) else { throw AdapterError(file: output, "already exists") }
        let loaded = try PEFTAdapterFolder.loadWithBase(stack, base: base)
        let labels = stack.lazy.compactMap(\.files.labels).first
        let classification = loaded.head == .sequenceClassification
        let unmerged = ModelSample.logits(loaded)
        let target: DType = ["f16": .f16, "bf16": .bf16][dtype] ?? .f32
        var writer = SafeTensorsCheckpointWriter(dtype: target)
        for (name, values, shape) in try BaseMerge.mergedParameters(of: loaded) { try writer.add(name, shape: shape, values: values) }
        return try ScratchFolder.build(output) { scratch in
            // An nf4 merge is written in f32 first, inside the scratch folder, then quantized once.
            let f32Folder = dtype == "nf4" ? scratch + "/.f32" : scratch
            try FileManager.default.createDirectory(atPath: f32Folder, withIntermediateDirectories: true)
            try writer.write(to: f32Folder + "/model.safetensors")
            _ = try ModelFolder.copyCompanions(of: Checkpoint.open(base), into: f32Folder) { json in
                json["torch_dtype"] = nil
                json["dtype"] = .string(["f16": "float16", "bf16": "bfloat16"][dtype] ?? "float32")
                json["quantization_config"] = nil
                if classification, let labels {
                    json["id2label"] = .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), .string($1)) }))
                    json["label2id"] = .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, .int($0)) }))
                    json["architectures"] = .array([.string(loaded.family.architecture(for: loaded.head))])
                }
            }
            if dtype == "nf4" {
                _ = try ModelQuantizer.quantize(
                    modelFolder: f32Folder, outputFolder: scratch, options: ModelQuantizer.Options(),
                    overwrite: true)
                try FileManager.default.removeItem(atPath: f32Folder)
            }
            let merged = try ModelLoader.load(folder: scratch, head: loaded.head)
            let mergedLogits = ModelSample.logits(merged)
            // Finite weights can still overflow in a forward pass (a stack weight of 1e38).
            guard mergedLogits.allSatisfy(\.isFinite) else {
                throw AdapterError(
                    file: output,
                    "the merged model's outputs overflow to infinity or NaN (check the adapter weights); "
                        + "nothing written")
            }
            return Report(output: output, dtype: dtype, tensors: writer.tensors.count, change: ModelSample.compare(unmerged, mergedLogits))
        }
    }
}
