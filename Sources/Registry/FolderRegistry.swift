import Foundation
import GRDB

/// The registry in a folder: blobs in a ``BlobStore``, the index in SQLite (WAL, so several
/// processes may add at once). Blobs are written and flushed before the index transaction that
/// references them commits, so a crash leaves a version fully present or absent (at worst with
/// unreferenced blobs, which `collectGarbage` removes). Layout in formats/registry.md.
public final class FolderRegistry: RegistryBackend, @unchecked Sendable {
    public let root: String
    public let blobs: BlobStore
    let database: DatabasePool

    public var location: String { root }

    public init(root: String) throws {
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

    // MARK: adding

    private struct Sink: BlobSink {
        let blobs: BlobStore
        func put(_ blob: [UInt8]) throws -> String { try blobs.put(blob) }
    }

    public func add(name: String, number: Int?, tags: [String], _ body: (any BlobSink) throws -> NewVersion) throws -> Int {
        try Self.withFileLock(blobLockPath, LOCK_SH) {
            // Blobs first, flushed; the index only ever points at complete blobs.
            let new = try body(Sink(blobs: blobs))
            return try database.write { db -> Int in
                let now = new.created.timeIntervalSince1970
                try db.execute(sql: "INSERT OR IGNORE INTO adapter (name, created) VALUES (?, ?)", arguments: [name, now])
                let adapter = try Int.fetchOne(db, sql: "SELECT id FROM adapter WHERE name = ?", arguments: [name])!
                let latest = try Int.fetchOne(db, sql: "SELECT MAX(number) FROM version WHERE adapter = ?", arguments: [adapter]) ?? 0
                if let number,
                    try Int.fetchOne(db, sql: "SELECT id FROM version WHERE adapter = ? AND number = ?", arguments: [adapter, number])
                        != nil
                {
                    throw numberTaken(name, number)
                }
                let assigned = number ?? latest + 1
                try db.execute(
                    sql: """
                        INSERT INTO version (adapter, number, created, peft_type, config, base_model, base_fingerprint, metadata,
                                             raw_bytes, stored_bytes, stored_dtype)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        adapter, assigned, now, new.peftType, new.config, new.baseModel, new.baseFingerprint, new.metadata,
                        new.rawBytes, new.storedBytes, new.storedDType,
                    ])
                let versionID = db.lastInsertedRowID
                for file in new.files {
                    try db.execute(
                        sql: "INSERT INTO file (version, name, kind, position, dtype, shape, raw_bytes, blob, encoding) "
                            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        arguments: [
                            versionID, file.name, file.kind, file.position, file.dtype, file.shape, file.rawBytes, file.blob,
                            file.encoding,
                        ])
                }
                for tag in tags {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO tag (adapter, name, version) VALUES (?, ?, ?)",
                        arguments: [adapter, tag, versionID])
                }
                return assigned
            }
        }
    }

    // MARK: reading

    /// Resolves a reference to a version row id and its adapter's id.
    func resolve(_ db: Database, _ reference: AdapterReference) throws -> (id: Int64, adapter: Int64) {
        guard let adapter = try Int64.fetchOne(db, sql: "SELECT id FROM adapter WHERE name = ?", arguments: [reference.name]) else {
            throw noAdapter(reference.name)
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
        guard let id else { throw noVersion(reference) }
        return (id, adapter)
    }

    func version(_ db: Database, id: Int64) throws -> AdapterStore.Version {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT adapter.name AS name, version.* FROM version JOIN adapter ON adapter.id = version.adapter WHERE version.id = ?
                """, arguments: [id])!
        let tags = try String.fetchAll(db, sql: "SELECT name FROM tag WHERE version = ? ORDER BY name", arguments: [id])
        let tensors = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file WHERE version = ? AND kind = 'tensor'", arguments: [id]) ?? 0
        return AdapterStore.Version(
            name: row["name"], version: row["number"], created: Date(timeIntervalSince1970: row["created"]),
            peftType: row["peft_type"], config: row["config"], baseModel: row["base_model"],
            baseFingerprint: row["base_fingerprint"], tags: tags, tensorCount: tensors, rawBytes: row["raw_bytes"],
            storedBytes: row["stored_bytes"], metadata: row["metadata"], storedDType: row["stored_dtype"])
    }

    public func version(_ reference: AdapterReference) throws -> AdapterStore.Version {
        try database.read { db in try version(db, id: try resolve(db, reference).id) }
    }

    public func list() throws -> [AdapterStore.Version] {
        try database.read { db in
            try Int64.fetchAll(
                db,
                sql: "SELECT version.id FROM version JOIN adapter ON adapter.id = version.adapter "
                    + "ORDER BY adapter.name, version.number"
            )
            .map { try version(db, id: $0) }
        }
    }

    public func files(_ reference: AdapterReference) throws -> [StoredFile] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT name, kind, position, dtype, shape, raw_bytes, blob, encoding FROM file WHERE version = ? "
                    + "ORDER BY kind = 'tensor', position, name",
                arguments: [try resolve(db, reference).id]
            ).map { row in
                StoredFile(
                    name: row["name"], kind: row["kind"], position: row["position"], dtype: row["dtype"], shape: row["shape"],
                    rawBytes: row["raw_bytes"], blob: row["blob"], encoding: row["encoding"])
            }
        }
    }

    public func blob(_ hash: String, maxLength: Int) throws -> [UInt8] { try blobs.get(hash, maxLength: maxLength) }

    public func blobLocation(_ hash: String) -> String { blobs.path(of: hash) }

    // MARK: changing

    public func tag(_ reference: AdapterReference, as tag: String) throws {
        try database.write { db in
            let (id, adapter) = try resolve(db, reference)
            try db.execute(sql: "INSERT OR REPLACE INTO tag (adapter, name, version) VALUES (?, ?, ?)", arguments: [adapter, tag, id])
        }
    }

    public func remove(_ reference: AdapterReference) throws {
        try database.write { db in
            let (id, adapter) = try resolve(db, reference)
            if reference.selector != .latest {
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

    // MARK: verify, gc

    public func verify() throws -> (corrupted: [String], missing: [String]) {
        let referenced = try database.read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT blob FROM file")) }
        let present = Set(try blobs.hashes())
        return (try blobs.corrupted(), referenced.subtracting(present).sorted())
    }

    public func collectGarbage() throws -> Int {
        try Self.withFileLock(blobLockPath, LOCK_EX) {
            try database.write { db in
                let referenced = Set(try String.fetchAll(db, sql: "SELECT DISTINCT blob FROM file"))
                return try blobs.removeUnreferenced(keeping: referenced).count
            }
        }
    }
}
