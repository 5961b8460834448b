import Foundation
import Models
import SafeTensors
import TrainingCore

/// Reads and writes adapters in PEFT's folder layout: `adapter_config.json` and
/// `adapter_model.safetensors` (metadata {"format": "pt"}, keys without the adapter name).
public enum PEFTAdapterFolder {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"
    /// Tailor's record of a classification adapter's label names (PEFT keeps them in the base
    /// model's config, which an adapter folder does not carry). PEFT ignores the file.
    public static let labelsFile = "adapter_labels.json"

    /// The label names saved with an adapter, if any.
    public static func labels(in folder: String) throws -> [String]? {
        let path = folder + "/" + labelsFile
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try labels(from: data, file: path)
    }

    static func labels(from data: Data, file: String) throws -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let map = object["id2label"] as? [String: String]
        else {
            throw AdapterError(file: file, "expected {\"id2label\": {\"0\": name, …}}")
        }
        return try (0..<map.count).map { index in
            guard let name = map[String(index)] else { throw AdapterError(file: file, "id2label has no entry \(index)") }
            return name
        }
    }

    /// Records `labels` next to an adapter.
    static func saveLabels(_ labels: [String], in folder: String) throws {
        let text = PythonJSONText.render(
            .object([
                "id2label": .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), .string($1)) }))
            ]))
        try ModelFolder.writeAtomically(Array(text.utf8), to: folder + "/" + labelsFile)
    }

    /// Loads a LoRA (or DoRA) adapter in `folder` into `base`.
    public static func load(_ folder: String, into base: AdaptableModel) throws -> LoRAModel {
        guard let lora = try loadAny(folder, into: base) as? LoRAModel else {
            throw AdapterError(file: folder + "/" + configFile, "not a LoRA adapter")
        }
        return lora
    }

    /// Loads the adapter in `folder` into `base`, whatever its `peft_type`.
    public static func loadAny(_ folder: String, into base: AdaptableModel) throws -> any PEFTAdapter {
        try loadAny(AdapterFiles(folder: folder), into: base)
    }

    /// Loads an adapter's files (from a folder or from memory) into `base`.
    public static func loadAny(_ files: AdapterFiles, into base: AdaptableModel) throws -> any PEFTAdapter {
        let configPath = files.label + "/" + configFile
        let json = try files.configJSON()
        let file = files.weights
        let weights = try files.tensors()
        let model: any PEFTAdapter
        switch json["peft_type"] as? String ?? "LORA" {
        case "LORA": model = try LoRAModel(base: base, config: LoRAConfig(json: json, file: configPath), weights: weights, file: file.path)
        case "IA3": model = try IA3Model(base: base, config: IA3Config(json: json, file: configPath), weights: weights, file: file.path)
        case "PROMPT_TUNING": model = try PromptTuningModel(base: base, json: json, weights: weights, file: configPath)
        case "PREFIX_TUNING": model = try PrefixTuningModel(base: base, json: json, weights: weights, file: configPath)
        case "BOTTLENECK":
            model = try BottleneckModel(
                base: base, config: BottleneckConfig(json: json, file: configPath), weights: weights,
                file: file.path)
        case let other:
            throw AdapterError(
                file: configPath,
                "peft_type \(other) is not supported "
                    + "(LORA, IA3, PROMPT_TUNING, PREFIX_TUNING, BOTTLENECK)")
        }
        let used = Set(model.savedTensors.map(\.0))
        if let unused = weights.keys.sorted().first(where: { !used.contains($0) }) {
            throw AdapterError(file: file.path, "tensor \(unused) matches no module the config adapts (wrong base model?)")
        }
        return model
    }

    /// Saves `model`'s adapter to `folder` (created) in f32, f16 or bf16, with the label names of
    /// its classification head when given.
    public static func save(_ model: any PEFTAdapter, to folder: String, dtype: DType = .f32, labels: [String]? = nil) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [TensorData] = []
        for (key, tensor) in model.savedTensors {
            var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: tensor.count)!)
            let values = tensor.values
            try values.withUnsafeBytes { source in
                try bytes.withUnsafeMutableBytes {
                    try DTypeConversion.convert(source, from: .f32, into: $0, as: dtype, file: folder, tensor: key)
                }
            }
            let shape = (model as? IA3Model)?.savedShape(key) ?? tensor.shape
            tensors.append(TensorData(name: key, dtype: dtype, shape: shape, bytes: bytes))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/" + weightsFile)
        try ModelFolder.writeAtomically(Array(model.configText().utf8), to: folder + "/" + configFile)
        if let labels { try saveLabels(labels, in: folder) }
    }
}

extension PEFTAdapterFolder {
    /// Loads the base model in `base` with the head the adapter in `folder` was trained with (its
    /// task_type, within the heads the base's family has), its labels, and the adapter applied.
    public static func loadWithBase(_ folder: String, base: String) throws -> any TransformerModel {
        try loadWithBase([(AdapterStack.Member(reference: folder), AdapterFiles(folder: folder))], base: base)
    }

    /// Loads `base` with the head the stack's first adapter (or `head`) was trained with, its
    /// labels, and the whole stack applied.
    public static func loadWithBase(
        _ stack: [(member: AdapterStack.Member, files: AdapterFiles)], base: String,
        taskOf head: AdapterFiles? = nil
    ) throws -> any TransformerModel {
        let family = try ModelFamilies.family(ofFolder: base)
        let taskType = try (head ?? stack.first?.files).flatMap { try $0.configJSON()["task_type"] as? String }
        let model = try ModelLoader.load(
            folder: base, head: family.head(for: taskType.flatMap(ModelHead.init(peftTaskType:))),
            labels: head?.labels ?? stack.lazy.compactMap(\.files.labels).first)
        _ = try AdapterStack.load(stack, into: model)
        return model
    }
}
