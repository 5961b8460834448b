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
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any],
              let map = object["id2label"] as? [String: String] else {
            throw AdapterError(file: path, "expected {\"id2label\": {\"0\": name, …}}")
        }
        return try (0..<map.count).map { index in
            guard let name = map[String(index)] else { throw AdapterError(file: path, "id2label has no entry \(index)") }
            return name
        }
    }

    /// Records `labels` next to an adapter.
    public static func saveLabels(_ labels: [String], in folder: String) throws {
        let text = PythonJSONText.render(.object(["id2label": .object(Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), .string($1)) }))]))
        try ModelFolder.writeAtomically(Array(text.utf8), to: folder + "/" + labelsFile)
    }

    /// Loads the adapter in `folder` into `base`.
    public static func load(_ folder: String, into base: AdaptableModel) throws -> LoRAModel {
        let configPath = folder + "/" + configFile
        let config = try LoRAConfig(jsonFile: configPath)
        let file = try SafeTensorsFile(path: folder + "/" + weightsFile)
        var weights: [String: Tensor] = [:]
        for info in file.tensors {
            let view = file.view(of: info)
            guard [.f32, .f16, .bf16].contains(view.dtype) else {
                throw AdapterError(file: file.path, "tensor \(info.name) is \(view.dtype.rawValue), not a float type")
            }
            weights[info.name] = Tensor(try view.floats(), shape: view.shape, name: info.name)
        }
        let model = try LoRAModel(base: base, config: config, weights: weights, file: file.path)
        let used = Set(model.trainableParameters.map(\.0))
        if let unused = weights.keys.sorted().first(where: { !used.contains($0) }) {
            throw AdapterError(file: file.path, "tensor \(unused) matches no module the config adapts (wrong base model?)")
        }
        return model
    }

    /// Saves `model`'s adapter to `folder` (created) in f32, f16 or bf16.
    public static func save(_ model: LoRAModel, to folder: String, dtype: DType = .f32) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [TensorData] = []
        for (key, tensor) in model.trainableParameters {
            var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: tensor.count)!)
            let values = tensor.values
            try values.withUnsafeBytes { source in
                try bytes.withUnsafeMutableBytes { try DTypeConversion.convert(source, from: .f32, into: $0, as: dtype, file: folder, tensor: key) }
            }
            tensors.append(TensorData(name: key, dtype: dtype, shape: tensor.shape, bytes: bytes))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/" + weightsFile)
        var text = model.config.jsonText()
        text.removeLast()  // PEFT writes no trailing newline
        try ModelFolder.writeAtomically(Array(text.utf8), to: folder + "/" + configFile)
    }
}
