import Foundation
import SafeTensors
import TrainingCore

/// An adapter's files, read from a folder or handed over in memory (a registry version is
/// decompressed straight into these, with no temporary folder).
public struct AdapterFiles {
    /// Where the files came from, for messages: a folder path or a registry reference.
    public let label: String
    public let config: Data
    public let weights: SafeTensorsFile
    public let labels: [String]?

    public init(folder: String) throws {
        let configPath = folder + "/" + PEFTAdapterFolder.configFile
        guard let config = FileManager.default.contents(atPath: configPath) else {
            throw AdapterError(file: configPath, "cannot read the adapter config")
        }
        self.config = config
        weights = try SafeTensorsFile(path: folder + "/" + PEFTAdapterFolder.weightsFile)
        labels = try PEFTAdapterFolder.labels(in: folder)
        label = folder
    }

    /// `files` maps file names (adapter_config.json, adapter_model.safetensors, …) to contents.
    public init(files: [String: [UInt8]], label: String) throws {
        guard let config = files[PEFTAdapterFolder.configFile] else {
            throw AdapterError(file: label, "no \(PEFTAdapterFolder.configFile)")
        }
        guard let weights = files[PEFTAdapterFolder.weightsFile] else {
            throw AdapterError(file: label, "no \(PEFTAdapterFolder.weightsFile)")
        }
        self.config = Data(config)
        do { self.weights = try SafeTensorsFile(bytes: weights, label: label + "/" + PEFTAdapterFolder.weightsFile) } catch {
            throw AdapterError(file: label, "\(error)")
        }
        labels = try files[PEFTAdapterFolder.labelsFile].map {
            try PEFTAdapterFolder.labels(from: Data($0), file: label + "/" + PEFTAdapterFolder.labelsFile)
        }
        self.label = label
    }

    /// The parsed adapter_config.json.
    public func configJSON() throws -> [String: Any] {
        guard let json = (try? JSONSerialization.jsonObject(with: config)) as? [String: Any] else {
            throw AdapterError(file: label + "/" + PEFTAdapterFolder.configFile, "not a JSON object")
        }
        return json
    }

    /// Every tensor's values in f32 by name, refusing non-float dtypes and non-finite values (a
    /// diverged run's NaNs would otherwise flow silently into outputs and merged weights).
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for info in weights.tensors {
            let view = weights.view(of: info)
            guard [.f32, .f16, .bf16].contains(view.dtype) else {
                throw AdapterError(file: weights.path, "tensor \(info.name) is \(view.dtype.rawValue), not a float type")
            }
            let values: [Float]
            do { values = try view.floats() } catch { throw AdapterError(file: weights.path, "\(error)") }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw AdapterError(
                    file: weights.path,
                    "tensor \(info.name) holds \(values[bad]) at element \(bad) "
                        + "(a diverged training run?)")
            }
            out[info.name] = Tensor(values, shape: view.shape, name: info.name)
        }
        return out
    }
}
