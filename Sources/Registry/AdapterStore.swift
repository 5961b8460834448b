import Foundation
import SafeTensors

/// The adapter registry: versioned adapters, their files' bytes in content-addressed blobs (each
/// tensor compressed by ``TensorCodec``), what they are in an index. Where they are kept is a
/// ``RegistryBackend``: a folder (SQLite + files) or a PostgreSQL database a team shares, chosen
/// by the location (`postgres://…` or a folder path). Layout in formats/registry.md.
public final class AdapterStore: @unchecked Sendable {
    /// The location the store was opened with: a folder or a `postgres://` URL.
    public let root: String
    public let backend: any RegistryBackend

    /// One stored version of an adapter.
    public struct Version: Sendable {
        public var name: String
        public var version: Int
        public var created: Date
        public var peftType: String
        public var config: String
        public var baseModel: String?
        public var baseFingerprint: String?
        public var tags: [String]
        public var tensorCount: Int
        public var rawBytes: Int
        public var storedBytes: Int
        public var metadata: String?
        /// The dtype the adapter's float tensors were stored in when `add` was asked to store
        /// them lossily; nil for a lossless version.
        public var storedDType: String?
    }

    /// `$TAILOR_REGISTRY`, else `$TAILOR_HOME`, else `~/.tailor`.
    public static var defaultRoot: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["TAILOR_REGISTRY"] ?? environment["TAILOR_HOME"] ?? (NSHomeDirectory() + "/.tailor")
    }

    /// Whether `location` names a PostgreSQL database rather than a folder.
    public static func isDatabaseURL(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    /// Whether a registry could already hold adapters at `location` (a database always may; a
    /// folder only once it exists): readers need not create an empty registry to find nothing.
    public static func mayExist(_ location: String) -> Bool {
        isDatabaseURL(location) || FileManager.default.fileExists(atPath: location)
    }

    /// Opens (creating and migrating when needed) the registry at `root`: a folder, or a
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL.
    public convenience init(root: String = AdapterStore.defaultRoot) throws {
        if Self.isDatabaseURL(root) {
            self.init(backend: try PostgresRegistry(url: root), root: root)
        } else {
            self.init(backend: try FolderRegistry(root: root), root: root)
        }
    }

    public init(backend: any RegistryBackend, root: String) {
        self.backend = backend
        self.root = root
    }

    /// Names: 1–128 of A–Z a–z 0–9 . _ -, not starting with a dot (no paths, no `..`).
    public static func checkName(_ name: String, what: String = "name") throws {
        let allowed = name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 46 || $0 == 95 || $0 == 45
        }
        guard !name.isEmpty, name.utf8.count <= 128, allowed, !name.hasPrefix(".") else {
            throw RegistryError(
                file: "\(what) \"\(name)\"",
                "is not allowed: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'")
        }
    }

    /// A tag is a name that is not a number: `NAME@3` must always mean version 3.
    public static func checkTag(_ tag: String) throws {
        try checkName(tag, what: "tag")
        guard Int(tag) == nil else { throw RegistryError(file: "tag \"\(tag)\"", "is a number, which would read as a version") }
    }

    // MARK: adding

    /// Stores the PEFT adapter in `folder` (adapter_config.json, adapter_model.safetensors and
    /// every other regular file beside them: README.md, adapter_labels.json, a run's logs) as the
    /// next version of `name`; a run's trainer_state.json is also kept as the version's metadata.
    /// The base is fingerprinted from `base`, else from the config's base_model_name_or_path when
    /// that is a folder here; otherwise it stays unknown.
    @discardableResult
    public func add(
        folder: String, name: String, tags: [String] = [], base: String? = nil, storeDType: DType? = nil,
        quantize: FactorQuantization? = nil
    ) throws -> Version {
        if let storeDType { return try addLossy(folder: folder, name: name, tags: tags, base: base, dtype: storeDType) }
        return try add(folder: folder, name: name, tags: tags, base: base, quantize: quantize, marked: quantize?.rawValue)
    }

    /// `add` with the stored dtype the version is marked with (a lossy add's).
    func add(
        folder: String, name: String, tags: [String], base: String?, quantize: FactorQuantization?, marked storedDType: String?
    ) throws -> Version {
        try Self.checkName(name)
        for tag in tags { try Self.checkTag(tag) }
        let configPath = folder + "/adapter_config.json", modelPath = folder + "/adapter_model.safetensors"
        guard let configData = FileManager.default.contents(atPath: configPath) else {
            throw RegistryError(file: configPath, "missing (not a PEFT adapter folder)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
            throw RegistryError(file: configPath, "not a JSON object")
        }
        let model = try SafeTensorsFile(path: modelPath)
        var isFolder: ObjCBool = false
        let baseFolder =
            base
            ?? (json["base_model_name_or_path"] as? String).flatMap {
                FileManager.default.fileExists(atPath: $0, isDirectory: &isFolder) && isFolder.boolValue ? $0 : nil
            }
        let baseFingerprint = try baseFolder.map { try BaseFingerprint.compute(folder: $0) }
        let companions = try Self.companionFiles(of: folder)

        let number = try backend.add(name: name, number: nil, tags: tags) { sink -> NewVersion in
            var files: [StoredFile] = [], storedBytes = 0
            func store(_ bytes: [UInt8], dtype: DType, name: String, kind: String, position: Int, shape: [Int]?) throws {
                var payload = bytes, payloadType = dtype, encoding: String?
                if let quantize, kind == "tensor", [.f32, .f16, .bf16].contains(dtype) {
                    let values = try bytes.withUnsafeBytes { raw in
                        var floats = [Float](repeating: 0, count: bytes.count * 8 / dtype.bitSize)
                        try floats.withUnsafeMutableBytes {
                            try DTypeConversion.convert(raw, from: dtype, into: $0, as: .f32, file: modelPath, tensor: name)
                        }
                        return floats
                    }
                    payload = try quantize.encode(values, shape: shape ?? [values.count], tensor: name)
                    payloadType = .u8
                    encoding = quantize.rawValue
                }
                let blob = TensorCodec.encode(payload, dtype: payloadType)
                storedBytes += blob.count
                files.append(
                    StoredFile(
                        name: name, kind: kind, position: position, dtype: kind == "tensor" ? dtype.rawValue : nil,
                        shape: shape.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }, rawBytes: bytes.count,
                        blob: try sink.put(blob), encoding: encoding))
            }
            try store([UInt8](configData), dtype: .u8, name: "adapter_config.json", kind: "file", position: 0, shape: nil)
            let prefix = Array(model.storage.bytes[0..<model.header.dataStart])
            try store(prefix, dtype: .u8, name: "adapter_model.safetensors", kind: "header", position: 0, shape: nil)
            for (index, info) in model.tensors.enumerated() {
                let view = model.view(of: info)
                try store(
                    Array(view.bytes.bindMemory(to: UInt8.self)), dtype: info.dtype, name: info.name, kind: "tensor",
                    position: index + 1, shape: info.shape)
            }
            // Every other regular file (README.md, adapter_labels.json, a run's trainer_state.json…)
            // is kept, so export gives the folder back byte for byte; subfolders (a run's
            // checkpoints) are not part of the adapter.
            for extra in companions {
                guard let data = FileManager.default.contents(atPath: folder + "/" + extra) else {
                    throw RegistryError(file: folder + "/" + extra, "cannot read")
                }
                try store([UInt8](data), dtype: .u8, name: extra, kind: "file", position: 0, shape: nil)
            }
            return NewVersion(
                created: Date(), peftType: json["peft_type"] as? String ?? "LORA", config: String(decoding: configData, as: UTF8.self),
                baseModel: json["base_model_name_or_path"] as? String, baseFingerprint: baseFingerprint,
                metadata: FileManager.default.contents(atPath: folder + "/trainer_state.json").map { String(decoding: $0, as: UTF8.self) },
                storedDType: storedDType, rawBytes: files.reduce(0) { $0 + $1.rawBytes }, storedBytes: storedBytes, files: files)
        }
        return try show("\(name)@\(number)")
    }

    /// The regular, visible files of an adapter folder besides its config and weights, by name.
    static func companionFiles(of folder: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw RegistryError(file: folder, "cannot list the folder")
        }
        return names.sorted().filter { name in
            guard !name.hasPrefix("."), !["adapter_config.json", "adapter_model.safetensors"].contains(name) else { return false }
            let values = try? URL(fileURLWithPath: folder + "/" + name).resourceValues(forKeys: [.isRegularFileKey])
            return values?.isRegularFile == true
        }
    }

    /// Lossy storage: the adapter's float tensors converted to `dtype` (bf16 or f16, torch's
    /// rounding) in a scratch copy of the folder, which is then stored losslessly and marked.
    func addLossy(folder: String, name: String, tags: [String], base: String?, dtype: DType) throws -> Version {
        try Self.checkName(name)
        guard [.bf16, .f16].contains(dtype) else {
            throw RegistryError(file: folder, "cannot be stored lossily as \(dtype.rawValue.lowercased()): choose bf16 or f16")
        }
        let scratch = NSTemporaryDirectory() + "tailor-lossy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for file in try ["adapter_config.json"] + Self.companionFiles(of: folder) {
            try FileManager.default.copyItem(atPath: folder + "/" + file, toPath: scratch + "/" + file)
        }
        _ = try CheckpointConversion.convert(
            Checkpoint.open(folder + "/adapter_model.safetensors"), to: dtype,
            output: scratch + "/adapter_model.safetensors")
        // The copied config still names the base, so the fingerprint is taken as for a lossless add.
        return try add(folder: scratch, name: name, tags: tags, base: base, quantize: nil, marked: dtype.rawValue)
    }

    // MARK: reading

    public func show(_ reference: String) throws -> Version {
        try backend.version(AdapterReference(parsing: reference))
    }

    /// The version `reference` names, or nil when it names none; a registry that cannot be read
    /// (a database down) is an error, not "none".
    public func find(_ reference: String) throws -> Version? {
        do { return try show(reference) } catch let error as RegistryError where error.namesNothing { return nil }
    }

    /// Every version of every adapter, by name then version.
    public func list() throws -> [Version] { try backend.list() }

    // MARK: changing

    /// Points `tag` at the version `reference` names (moving it if it pointed elsewhere).
    public func tag(_ reference: String, as tag: String) throws {
        try Self.checkTag(tag)
        try backend.tag(AdapterReference(parsing: reference), as: tag)
    }

    /// Removes one version (NAME@N or NAME@TAG) or, for a bare NAME, the adapter with all its
    /// versions. Blobs stay until `collectGarbage` (another version may share them).
    public func remove(_ reference: String) throws {
        try backend.remove(AdapterReference(parsing: reference))
    }

    /// Refuses `reference` for the base in `modelFolder` when the fingerprints differ (an
    /// adapter whose base was unknown at `add` passes); `force` turns the refusal off.
    public func checkBase(_ reference: String, modelFolder: String, force: Bool) throws {
        try checkBase(reference, modelFolder: modelFolder, fingerprint: try BaseFingerprint.compute(folder: modelFolder), force: force)
    }

    /// As ``checkBase(_:modelFolder:force:)`` with the model's fingerprint computed once by the
    /// caller (a server checking many adapters against one base).
    public func checkBase(_ reference: String, modelFolder: String, fingerprint: @autoclosure () throws -> String, force: Bool) throws {
        let version = try show(reference)
        guard !force, let expected = version.baseFingerprint else { return }
        let actual = try fingerprint()
        guard actual == expected else {
            throw RegistryError(
                file: modelFolder,
                "not the base \(version.name)@\(version.version) was trained on "
                    + "(\(version.baseModel ?? "unknown"), fingerprint \(expected.prefix(12)) vs \(actual.prefix(12))); "
                    + "force it to apply the adapter anyway")
        }
    }

    // MARK: export, verify, gc

    /// The version's files by name (adapter_config.json, adapter_model.safetensors, …),
    /// decompressed and checked, byte-identical to the files that were added; nothing is written.
    public func files(_ reference: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        var model: [UInt8] = []
        for row in try backend.files(AdapterReference(parsing: reference)) {
            let bytes = try contents(of: row)
            switch row.kind {
            case "header", "tensor": model += bytes
            default: files[row.name] = bytes
            }
        }
        files["adapter_model.safetensors"] = model
        return files
    }

    /// One stored item's bytes as they were added: its blob read (hash checked), decoded, and
    /// dequantized when it was stored quantized; its size must be the one the index records.
    func contents(of row: StoredFile) throws -> [UInt8] {
        let raw = row.rawBytes, hash = row.blob
        let encoding = row.encoding.flatMap(FactorQuantization.init(rawValue:))
        // A quantized payload is smaller than the tensor it restores; these bounds only stop a hostile size.
        var bytes = try TensorCodec.decode(
            try backend.blob(hash, maxLength: Self.maxBlobLength(raw: raw)),
            maxLength: encoding == nil ? raw : 2 * raw + 4096, file: backend.blobLocation(hash))
        if let encoding {
            bytes = try Self.dequantize(bytes, encoding: encoding, dtype: row.dtype, shape: row.shape, raw: raw, tensor: row.name)
        }
        guard bytes.count == raw else {
            throw RegistryError(file: backend.blobLocation(hash), "holds \(bytes.count) bytes of \(row.name), the index says \(raw)")
        }
        return bytes
    }

    /// The largest blob a stored item of `raw` bytes may have: a quantized payload is smaller than
    /// the tensor it restores and the codec's framing is small, so this bound only stops a hostile size.
    static func maxBlobLength(raw: Int) -> Int { 2 * raw + 8192 }

    /// Writes the version as a PEFT folder at `output` (which must not exist), byte-identical to
    /// the files that were added; the folder appears whole or not at all. The weights file is
    /// written item by item as the blobs are read, so an adapter of any size passes through
    /// memory one tensor at a time.
    public func export(_ reference: String, to output: String) throws {
        let rows = try backend.files(AdapterReference(parsing: reference))
        try ScratchFolder.build(output) { temporary in
            let model = try AtomicFile(path: temporary + "/adapter_model.safetensors")
            var offset = 0
            for row in rows {
                let bytes = try contents(of: row)
                switch row.kind {
                case "header", "tensor":
                    try bytes.withUnsafeBytes { try model.write($0, at: offset) }
                    offset += bytes.count
                default:
                    guard !row.name.contains("/"), !row.name.hasPrefix("."), row.name != "adapter_model.safetensors" else {
                        throw RegistryError(
                            file: backend.location, "\(reference) lists \"\(row.name)\", not a file name the registry stores")
                    }
                    try ModelFolder.writeAtomically(bytes, to: temporary + "/" + row.name)
                }
            }
            try model.commit()
            _ = try SafeTensorsFile(path: temporary + "/adapter_model.safetensors")
        }
    }

    /// A quantized tensor's payload back to its own dtype's bytes.
    static func dequantize(
        _ payload: [UInt8], encoding: FactorQuantization, dtype: String?, shape: String?, raw: Int,
        tensor: String
    ) throws -> [UInt8] {
        guard let dtype = dtype.flatMap(DType.init(rawValue:)), dtype.bitSize >= 8 else {
            throw RegistryError(file: tensor, "unknown dtype for a quantized tensor")
        }
        let dims = (shape ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap { Int($0) }
        let count = raw / (dtype.bitSize / 8)
        let values = try encoding.decode(payload, count: count, shape: dims, tensor: tensor)
        var bytes = [UInt8](repeating: 0, count: raw)
        try values.withUnsafeBytes { source in
            try bytes.withUnsafeMutableBytes { try DTypeConversion.convert(source, from: .f32, into: $0, as: dtype, file: tensor) }
        }
        return bytes
    }

    /// Re-hashes every blob: the corrupted ones, and referenced blobs that are missing.
    public func verify() throws -> (corrupted: [String], missing: [String]) { try backend.verify() }

    /// Removes blobs no version references; returns how many.
    @discardableResult
    public func collectGarbage() throws -> Int { try backend.collectGarbage() }
}
