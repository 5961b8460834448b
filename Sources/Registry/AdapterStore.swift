import Foundation
import GRDB
import SafeTensors

/// The adapter registry: versioned adapters in a folder, their files' bytes in a ``BlobStore``
/// (each tensor compressed by ``TensorCodec``), what they are in a SQLite index (WAL, so several
/// processes may add at once). Blobs are written and flushed before the index transaction that
/// references them commits, so a crash leaves an adapter version fully present or absent (at
/// worst with unreferenced blobs, which `collectGarbage` removes). Layout in formats/registry.md.
public final class AdapterStore: @unchecked Sendable {
    public let root: String
    public let blobs: BlobStore
    let database: DatabasePool

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

    /// `$TAILOR_HOME`, else `~/.tailor`.
    public static var defaultRoot: String {
        ProcessInfo.processInfo.environment["TAILOR_HOME"] ?? (NSHomeDirectory() + "/.tailor")
    }

    public init(root: String = AdapterStore.defaultRoot) throws {
        self.root = root
        blobs = try BlobStore(root: root)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        // Switching a new database to WAL and running migrations race between processes opening
        // the registry at once ("database is locked", "duplicate column"); an advisory file lock
        // makes opening one process at a time. Work on an open store needs no such lock.
        database = try Self.withFileLock(root + "/index.lock", LOCK_EX) {
            let database = try DatabasePool(path: root + "/index.sqlite", configuration: configuration)
            try Self.migrator.migrate(database)
            return database
        }
    }

    /// Runs `body` holding an advisory lock on `path` (`LOCK_SH` or `LOCK_EX`); the kernel
    /// releases it if the process dies, so a kill -9 never leaves the registry locked.
    static func withFileLock<T>(_ path: String, _ mode: Int32, _ body: () throws -> T) throws -> T {
        let lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw RegistryError(file: path, "cannot open (errno \(errno))") }
        defer {
            flock(lock, LOCK_UN)
            close(lock)
        }
        while flock(lock, mode) != 0 {
            guard errno == EINTR else { throw RegistryError(file: path, "cannot lock (errno \(errno))") }
        }
        return try body()
    }

    /// Adds hold this lock shared from their first blob to their index commit, garbage
    /// collection holds it exclusively: gc never sees a blob an add has written but not yet
    /// referenced, and never removes a temporary file an add is still writing.
    var blobLockPath: String { root + "/blobs.lock" }

    /// The SQLite index, named by errors about what it records.
    var indexPath: String { root + "/index.sqlite" }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE adapter (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
                    CREATE TABLE version (
                        id INTEGER PRIMARY KEY, adapter INTEGER NOT NULL REFERENCES adapter(id) ON DELETE CASCADE,
                        number INTEGER NOT NULL, created REAL NOT NULL, peft_type TEXT NOT NULL, config TEXT NOT NULL,
                        base_model TEXT, base_fingerprint TEXT, metadata TEXT, raw_bytes INTEGER NOT NULL, stored_bytes INTEGER NOT NULL,
                        UNIQUE (adapter, number));
                    CREATE TABLE file (
                        version INTEGER NOT NULL REFERENCES version(id) ON DELETE CASCADE, name TEXT NOT NULL,
                        kind TEXT NOT NULL, position INTEGER NOT NULL, dtype TEXT, shape TEXT, raw_bytes INTEGER NOT NULL,
                        blob TEXT NOT NULL, PRIMARY KEY (version, name, position));
                    CREATE TABLE tag (
                        adapter INTEGER NOT NULL REFERENCES adapter(id) ON DELETE CASCADE, name TEXT NOT NULL,
                        version INTEGER NOT NULL REFERENCES version(id) ON DELETE CASCADE, PRIMARY KEY (adapter, name));
                    """)
        }
        migrator.registerMigration("v2: lossy storage") { db in
            try db.execute(sql: "ALTER TABLE version ADD COLUMN stored_dtype TEXT")
        }
        migrator.registerMigration("v3: quantized factors") { db in
            try db.execute(sql: "ALTER TABLE file ADD COLUMN encoding TEXT")
        }
        return migrator
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

        let version = try Self.withFileLock(blobLockPath, LOCK_SH) { () throws -> Int in
            // Blobs first, flushed; the index only ever points at complete blobs.
            var files:
                [(
                    name: String, kind: String, position: Int, dtype: String?, shape: String?, raw: Int, blob: String, stored: Int,
                    encoding: String?
                )] = []
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
                files.append(
                    (
                        name, kind, position, kind == "tensor" ? dtype.rawValue : nil,
                        shape.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }, bytes.count, try blobs.put(blob),
                        blob.count, encoding
                    ))
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
            for extra in try Self.companionFiles(of: folder) {
                guard let data = FileManager.default.contents(atPath: folder + "/" + extra) else {
                    throw RegistryError(file: folder + "/" + extra, "cannot read")
                }
                try store([UInt8](data), dtype: .u8, name: extra, kind: "file", position: 0, shape: nil)
            }
            let metadata = FileManager.default.contents(atPath: folder + "/trainer_state.json").map { String(decoding: $0, as: UTF8.self) }
            let now = Date().timeIntervalSince1970
            let version = try database.write { db -> Int in
                try db.execute(sql: "INSERT OR IGNORE INTO adapter (name, created) VALUES (?, ?)", arguments: [name, now])
                let adapter = try Int.fetchOne(db, sql: "SELECT id FROM adapter WHERE name = ?", arguments: [name])!
                let number = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM version WHERE adapter = ?", arguments: [adapter]) ?? 0) + 1
                try db.execute(
                    sql: """
                        INSERT INTO version (adapter, number, created, peft_type, config, base_model, base_fingerprint, metadata,
                                             raw_bytes, stored_bytes, stored_dtype)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        adapter, number, now, json["peft_type"] as? String ?? "LORA",
                        String(decoding: configData, as: UTF8.self),
                        json["base_model_name_or_path"] as? String, baseFingerprint, metadata,
                        files.reduce(0) { $0 + $1.raw }, files.reduce(0) { $0 + $1.stored }, quantize?.rawValue,
                    ])
                let versionID = db.lastInsertedRowID
                for file in files {
                    try db.execute(
                        sql: "INSERT INTO file (version, name, kind, position, dtype, shape, raw_bytes, blob, encoding) "
                            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        arguments: [
                            versionID, file.name, file.kind, file.position, file.dtype, file.shape, file.raw, file.blob,
                            file.encoding,
                        ])
                }
                for tag in tags {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO tag (adapter, name, version) VALUES (?, ?, ?)",
                        arguments: [adapter, tag, versionID])
                }
                return number
            }
            return version
        }
        return try show("\(name)@\(version)")
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
        let stored = try add(folder: scratch, name: name, tags: tags, base: base)
        try database.write { db in
            try db.execute(
                sql: "UPDATE version SET stored_dtype = ? WHERE id = ?",
                arguments: [dtype.rawValue, try resolve(db, "\(name)@\(stored.version)").id])
        }
        return try show("\(name)@\(stored.version)")
    }

    // MARK: reading

    /// Resolves NAME (latest), NAME@N or NAME@TAG to a version row id.
    func resolve(_ db: Database, _ text: String) throws -> (id: Int64, adapter: Int64) {
        let reference = try AdapterReference(parsing: text)
        guard let adapter = try Int64.fetchOne(db, sql: "SELECT id FROM adapter WHERE name = ?", arguments: [reference.name]) else {
            throw RegistryError(file: root, "no adapter named \"\(reference.name)\"")
        }
        let id: Int64?
        switch reference.selector {
        case .latest:
            id = try Int64.fetchOne(db, sql: "SELECT id FROM version WHERE adapter = ? ORDER BY number DESC LIMIT 1", arguments: [adapter])
        case .number(let number):
            id = try Int64.fetchOne(db, sql: "SELECT id FROM version WHERE adapter = ? AND number = ?", arguments: [adapter, number])
        case .tag(let tag):
            id = try Int64.fetchOne(db, sql: "SELECT version FROM tag WHERE adapter = ? AND name = ?", arguments: [adapter, tag])
        }
        guard let id else { throw RegistryError(file: root, "no adapter version \(reference) (no such version or tag)") }
        return (id, adapter)
    }

    func version(_ db: Database, id: Int64) throws -> Version {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT adapter.name AS name, version.* FROM version JOIN adapter ON adapter.id = version.adapter WHERE version.id = ?
                """, arguments: [id])!
        let tags = try String.fetchAll(db, sql: "SELECT name FROM tag WHERE version = ? ORDER BY name", arguments: [id])
        let tensors = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file WHERE version = ? AND kind = 'tensor'", arguments: [id]) ?? 0
        return Version(
            name: row["name"], version: row["number"], created: Date(timeIntervalSince1970: row["created"]),
            peftType: row["peft_type"], config: row["config"], baseModel: row["base_model"],
            baseFingerprint: row["base_fingerprint"], tags: tags, tensorCount: tensors, rawBytes: row["raw_bytes"],
            storedBytes: row["stored_bytes"], metadata: row["metadata"], storedDType: row["stored_dtype"])
    }

    public func show(_ reference: String) throws -> Version {
        try database.read { db in try version(db, id: try resolve(db, reference).id) }
    }

    /// Every version of every adapter, by name then version.
    public func list() throws -> [Version] {
        try database.read { db in
            try Int64.fetchAll(
                db,
                sql: "SELECT version.id FROM version JOIN adapter ON adapter.id = version.adapter "
                    + "ORDER BY adapter.name, version.number"
            )
            .map { try version(db, id: $0) }
        }
    }

    // MARK: changing

    /// Points `tag` at the version `reference` names (moving it if it pointed elsewhere).
    public func tag(_ reference: String, as tag: String) throws {
        try Self.checkTag(tag)
        try database.write { db in
            let (id, adapter) = try resolve(db, reference)
            try db.execute(sql: "INSERT OR REPLACE INTO tag (adapter, name, version) VALUES (?, ?, ?)", arguments: [adapter, tag, id])
        }
    }

    /// Removes one version (NAME@N or NAME@TAG) or, for a bare NAME, the adapter with all its
    /// versions. Blobs stay until `collectGarbage` (another version may share them).
    public func remove(_ reference: String) throws {
        try database.write { db in
            let (id, adapter) = try resolve(db, reference)
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            if reference.contains("@") {
                try db.execute(sql: "DELETE FROM tag WHERE version = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM file WHERE version = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM version WHERE id = ?", arguments: [id])
                if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM version WHERE adapter = ?", arguments: [adapter]) == 0 {
                    try db.execute(sql: "DELETE FROM adapter WHERE id = ?", arguments: [adapter])
                }
            } else {
                try db.execute(sql: "DELETE FROM tag WHERE adapter = ?", arguments: [adapter])
                try db.execute(sql: "DELETE FROM file WHERE version IN (SELECT id FROM version WHERE adapter = ?)", arguments: [adapter])
                try db.execute(sql: "DELETE FROM version WHERE adapter = ?", arguments: [adapter])
                try db.execute(sql: "DELETE FROM adapter WHERE id = ?", arguments: [adapter])
            }
        }
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
        let rows = try database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT name, kind, raw_bytes, blob, dtype, shape, encoding FROM file WHERE version = ? "
                    + "ORDER BY kind = 'tensor', position",
                arguments: [try resolve(db, reference).id])
        }
        var files: [String: [UInt8]] = [:]
        var model: [UInt8] = []
        for row in rows {
            let raw: Int = row["raw_bytes"], hash: String = row["blob"], name: String = row["name"], kind: String = row["kind"]
            let encoding = (row["encoding"] as String?).flatMap(FactorQuantization.init(rawValue:))
            // A quantized payload is smaller than the tensor it restores; these bounds only stop a hostile size.
            var bytes = try TensorCodec.decode(
                try blobs.get(hash, maxLength: 2 * raw + 8192),
                maxLength: encoding == nil ? raw : 2 * raw + 4096, file: blobs.path(of: hash))
            if let encoding {
                bytes = try Self.dequantize(bytes, encoding: encoding, dtype: row["dtype"], shape: row["shape"], raw: raw, tensor: name)
            }
            guard bytes.count == raw else {
                throw RegistryError(file: blobs.path(of: hash), "holds \(bytes.count) bytes of \(name), the index says \(raw)")
            }
            switch kind {
            case "header", "tensor": model += bytes
            default: files[name] = bytes
            }
        }
        files["adapter_model.safetensors"] = model
        return files
    }

    /// Writes the version as a PEFT folder at `output` (which must not exist), byte-identical to
    /// the files that were added; the folder appears whole or not at all.
    public func export(_ reference: String, to output: String) throws {
        let contents = try files(reference)
        try ScratchFolder.build(output) { temporary in
            for (name, bytes) in contents.sorted(by: { $0.key < $1.key }) {
                guard !name.contains("/"), !name.hasPrefix(".") else {
                    throw RegistryError(file: indexPath, "\(reference) lists \"\(name)\", not a file name the registry stores")
                }
                try ModelFolder.writeAtomically(bytes, to: temporary + "/" + name)
            }
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
    public func verify() throws -> (corrupted: [String], missing: [String]) {
        let referenced = try database.read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT blob FROM file")) }
        let present = Set(try blobs.hashes())
        return (try blobs.corrupted(), referenced.subtracting(present).sorted())
    }

    /// Removes blobs no version references; returns how many.
    @discardableResult
    public func collectGarbage() throws -> Int {
        try Self.withFileLock(blobLockPath, LOCK_EX) {
            try database.write { db in
                let referenced = Set(try String.fetchAll(db, sql: "SELECT DISTINCT blob FROM file"))
                return try blobs.removeUnreferenced(keeping: referenced).count
            }
        }
    }
}
