import Adapters
import Foundation
import Inference
import Registry
import SafeTensors

/// Adding an adapter folder to the registry, lossily when asked, with what the loss costs: the
/// stored version is exported again and run against the original on the base model.
public enum AdapterStorage {
    /// How the adapter's float tensors are stored: as given (lossless), or rounded to save space.
    public enum Precision: String, Sendable, CaseIterable {
        case bf16, f16
        /// Per-row int8 scales.
        case int8
        /// NF4 in blocks of 64.
        case nf4

        var dtype: DType? { ["bf16": .bf16, "f16": .f16][rawValue] }
        var quantization: FactorQuantization? { FactorQuantization(rawValue: rawValue) }
    }

    public struct Added {
        public var version: AdapterStore.Version
        /// Logits of the stored version against the original on the base; nil when stored losslessly or
        /// when the base is unknown.
        public var change: AdapterOutputChange.Result?
    }

    /// Stores `folder` as the next version of `name`. `base` (else the config's
    /// base_model_name_or_path when that is a model folder) is fingerprinted and, for a lossy
    /// `precision`, used to measure the change.
    public static func add(
        folder: String, name: String, tags: [String], base: String?, precision: Precision?,
        in store: AdapterStore
    ) throws -> Added {
        let version = try store.add(
            folder: folder, name: name, tags: tags, base: base, storeDType: precision?.dtype,
            quantize: precision?.quantization)
        let baseFolder = base ?? version.baseModel.flatMap { FileManager.default.fileExists(atPath: $0 + "/config.json") ? $0 : nil }
        guard precision != nil, let baseFolder else { return Added(version: version, change: nil) }
        let exported = NSTemporaryDirectory() + "tailor-stored-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: exported) }
        try store.export("\(version.name)@\(version.version)", to: exported)
        let change = try AdapterOutputChange.measure(base: baseFolder, original: folder, stored: exported)
        return Added(version: version, change: change)
    }
}
