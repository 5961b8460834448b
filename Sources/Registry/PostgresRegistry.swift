import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// The registry in one PostgreSQL database a team shares: the index in tables, the blobs in the
/// same database as rows of at most 1 MiB (`bytea`), so a blob of any size moves in pieces.
/// An add is one transaction holding a shared advisory lock, garbage collection a transaction
/// holding it exclusively: a client killed mid-add, or a server restarted under it, leaves
/// nothing, and gc never removes a blob an in-flight add references. Each call runs on one
/// connection, waiting on its future (callers are synchronous threads, never an event loop);
/// a connection the server closed is opened again by the next call. Schema in formats/registry.md.
public final class PostgresRegistry: RegistryBackend, @unchecked Sendable {
    public let location: String
    let settings: PostgresLocation
    private let lock = NSLock()
    private var connection: PostgresConnection?
    private let logger = Logger(label: "tailor.registry.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The registry's own event loop: callers block waiting on it, which must never happen on a
    /// loop a server in the same process (tailor serve's HTTP) also runs on.
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Rows of `blob_chunk` hold at most this many bytes.
    static let chunkSize = 1 << 20
    /// Advisory lock keys ("tailor" and a number): adds share the first, gc takes it alone;
    /// the second serialises migrations between clients opening a new database at once.
    static let collectorLock: Int64 = 0x7461_696C_6F72_0001
    static let migrationLock: Int64 = 0x7461_696C_6F72_0002

    public convenience init(url: String) throws {
        try self.init(settings: PostgresLocation(url: url))
    }

    public init(settings: PostgresLocation) throws {
        self.settings = settings
        location = settings.display
        try lock.withLock {
            let connection = try openConnection()
            try migrate(connection)
        }
    }

    deinit {
        try? connection?.close().wait()
    }

    // MARK: connection

    private func openConnection() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password,
            database: settings.database, tls: .disable)
        do {
            switch settings.tls {
            case .disable: break
            case .prefer: configuration.tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: configuration.tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration.options.connectTimeout = .seconds(15)
            let opened = try PostgresConnection.connect(
                on: Self.eventLoops.next(), configuration: configuration, id: 1, logger: logger
            ).wait()
            connection = opened
            return opened
        } catch {
            throw problem(error, doing: "cannot connect")
        }
    }

    /// Runs `body` on the open connection, one call at a time. A read that finds the connection
    /// closed by the server (a restart) runs once more on a new one; a write reports the error.
    private func withConnection<T>(retryingRead: Bool = false, _ body: (PostgresConnection) throws -> T) throws -> T {
        try lock.withLock {
            do {
                return try body(try openConnection())
            } catch  where retryingRead && Self.isConnectionLoss(error) {
                connection = nil
                do { return try body(try openConnection()) } catch  where Self.isDatabaseError(error) { throw problem(error) }
            } catch  where Self.isDatabaseError(error) {
                throw problem(error)
            }
        }
    }

    static func isDatabaseError(_ error: any Error) -> Bool { error is PSQLError || error is ConnectionLost }

    static func isConnectionLoss(_ error: any Error) -> Bool {
        if error is ConnectionLost { return true }
        guard let error = error as? PSQLError else { return false }
        return [.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown].contains(error.code)
    }

    /// One line for any error: the server's message and SQLSTATE, or what happened to the
    /// connection (PSQLError's own description hides both).
    func problem(_ error: any Error, doing action: String? = nil) -> RegistryError {
        if let error = error as? RegistryError { return error }
        var message: String
        if error is ConnectionLost {
            message = "the connection to the server was lost (the server closed it)"
            connection = nil
        } else if let error = error as? PSQLError {
            if let server = error.serverInfo, let text = server[.message] {
                message = text + (server[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            } else if error.code == .connectionError, "\(error.underlying.map { "\($0)" } ?? "")".contains("Connection refused") {
                message = "connection refused (is the server running on \(settings.host):\(settings.port)?)"
            } else if Self.isConnectionLoss(error) {
                message = "the connection to the server was lost" + (error.underlying.map { " (\($0))" } ?? "")
                if let connection { try? connection.close().wait() }
                connection = nil
            } else {
                message = "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
            }
        } else {
            message = "\(error)"
        }
        if let action { message = action + ": " + message }
        return RegistryError(file: location, message)
    }

    @discardableResult
    func run(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> PostgresQueryResult {
        try wait(for: connection.query(query, logger: logger), on: connection)
    }

    /// The connection went away under a query whose future postgres-nio never completes (seen
    /// when the server restarts between two statements of a transaction).
    struct ConnectionLost: Error {}

    /// Waits for `future`, checking twice a second that the connection is still open: a server
    /// restarted mid-add must end the add with an error, not leave it waiting forever.
    func wait<T: Sendable>(for future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        let completed = DispatchSemaphore(value: 0)
        future.whenComplete { _ in completed.signal() }
        while completed.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            if connection.isClosed { throw ConnectionLost() }
        }
        return try future.wait()
    }

    func runTransaction<T>(_ connection: PostgresConnection, _ body: () throws -> T) throws -> T {
        try run(connection, "BEGIN")
        do {
            let result = try body()
            try run(connection, "COMMIT")
            return result
        } catch {
            if !connection.isClosed { _ = try? run(connection, "ROLLBACK") }
            throw error
        }
    }

    // MARK: schema

    /// Each migration's statements, applied once, in order, under an advisory lock.
    static let migrations: [[String]] = [
        [
            "CREATE TABLE adapter (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, created DOUBLE PRECISION NOT NULL)",
            """
            CREATE TABLE version (
                id BIGSERIAL PRIMARY KEY, adapter BIGINT NOT NULL REFERENCES adapter(id) ON DELETE CASCADE,
                number BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL, peft_type TEXT NOT NULL, config TEXT NOT NULL,
                base_model TEXT, base_fingerprint TEXT, metadata TEXT, raw_bytes BIGINT NOT NULL, stored_bytes BIGINT NOT NULL,
                stored_dtype TEXT, UNIQUE (adapter, number))
            """,
            "CREATE TABLE blob (hash TEXT PRIMARY KEY, size BIGINT NOT NULL)",
            """
            CREATE TABLE blob_chunk (
                hash TEXT NOT NULL REFERENCES blob(hash) ON DELETE CASCADE, seq INTEGER NOT NULL, data BYTEA NOT NULL,
                PRIMARY KEY (hash, seq))
            """,
            """
            CREATE TABLE file (
                version BIGINT NOT NULL REFERENCES version(id) ON DELETE CASCADE, name TEXT NOT NULL, kind TEXT NOT NULL,
                position BIGINT NOT NULL, dtype TEXT, shape TEXT, raw_bytes BIGINT NOT NULL, blob TEXT NOT NULL REFERENCES blob(hash),
                encoding TEXT, PRIMARY KEY (version, name, position))
            """,
            "CREATE INDEX file_blob ON file (blob)",
            """
            CREATE TABLE tag (
                adapter BIGINT NOT NULL REFERENCES adapter(id) ON DELETE CASCADE, name TEXT NOT NULL,
                version BIGINT NOT NULL REFERENCES version(id) ON DELETE CASCADE, PRIMARY KEY (adapter, name))
            """,
        ]
    ]

    private func migrate(_ connection: PostgresConnection) throws {
        do {
            try runTransaction(connection) {
                try run(connection, "SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
                try run(connection, "CREATE TABLE IF NOT EXISTS tailor_schema (version INTEGER NOT NULL)")
                let applied = try run(connection, "SELECT COALESCE(MAX(version), 0) FROM tailor_schema").first?.decode(Int.self) ?? 0
                guard applied <= Self.migrations.count else {
                    throw RegistryError(
                        file: location,
                        "has schema version \(applied), newer than this tailor knows (\(Self.migrations.count)); upgrade tailor")
                }
                for (index, statements) in Self.migrations.enumerated() where index >= applied {
                    for statement in statements { try run(connection, PostgresQuery(unsafeSQL: statement)) }
                    try run(connection, "INSERT INTO tailor_schema (version) VALUES (\(index + 1))")
                }
            }
        } catch {
            throw problem(error, doing: "cannot prepare the registry tables")
        }
    }

    // MARK: adding

    private struct Sink: BlobSink {
        let registry: PostgresRegistry
        let connection: PostgresConnection
        func put(_ blob: [UInt8]) throws -> String { try registry.put(blob, on: connection) }
    }

    /// Stores `bytes` as a blob inside the caller's transaction. A blob already present is reused
    /// only when its rows still hash to its name; else its rows are written again.
    func put(_ bytes: [UInt8], on connection: PostgresConnection) throws -> String {
        let hash = BlobStore.hash(bytes)
        let inserted = try run(
            connection, "INSERT INTO blob (hash, size) VALUES (\(hash), \(bytes.count)) ON CONFLICT (hash) DO NOTHING RETURNING hash")
        if inserted.first == nil {
            let intact = try run(
                connection, "SELECT \(unescaped: Self.contentHash) = \(hash) AND size = \(bytes.count) FROM blob WHERE hash = \(hash)")
            if try intact.first?.decode(Bool.self) == true { return hash }
            try run(connection, "DELETE FROM blob_chunk WHERE hash = \(hash)")
            try run(connection, "UPDATE blob SET size = \(bytes.count) WHERE hash = \(hash)")
        }
        var offset = 0, sequence = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + Self.chunkSize)
            var buffer = ByteBufferAllocator().buffer(capacity: end - offset)
            buffer.writeBytes(bytes[offset..<end])
            try run(connection, "INSERT INTO blob_chunk (hash, seq, data) VALUES (\(hash), \(sequence), \(buffer))")
            offset = end
            sequence += 1
        }
        return hash
    }

    /// SQL for the SHA-256 (hex) of the chunks of the `blob` row in the query.
    static let contentHash =
        "encode(sha256(COALESCE((SELECT string_agg(c.data, ''::bytea ORDER BY c.seq) FROM blob_chunk c WHERE c.hash = blob.hash), "
        + "''::bytea)), 'hex')"

    public func add(name: String, number: Int?, tags: [String], _ body: (any BlobSink) throws -> NewVersion) throws -> Int {
        try withConnection { connection in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try runTransaction(connection) {
                        try addInTransaction(connection, name: name, number: number, tags: tags, body)
                    }
                } catch let error as PSQLError where attempt < 5 && ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") {
                    // Two adds sharing blobs in different orders can deadlock; the server picks one to
                    // fail, and running it again succeeds once the other has committed.
                    continue
                }
            }
        }
    }

    private func addInTransaction(
        _ connection: PostgresConnection, name: String, number: Int?, tags: [String], _ body: (any BlobSink) throws -> NewVersion
    ) throws -> Int {
        try run(connection, "SELECT pg_advisory_xact_lock_shared(\(Self.collectorLock))")
        let new = try body(Sink(registry: self, connection: connection))
        let created = new.created.timeIntervalSince1970
        try run(connection, "INSERT INTO adapter (name, created) VALUES (\(name), \(created)) ON CONFLICT (name) DO NOTHING")
        // The adapter's row lock orders concurrent adds of one name: each sees the others' numbers.
        let adapter = try run(connection, "SELECT id FROM adapter WHERE name = \(name) FOR UPDATE").first!.decode(Int.self)
        let latest = try run(connection, "SELECT COALESCE(MAX(number), 0) FROM version WHERE adapter = \(adapter)").first!.decode(Int.self)
        if let number, try run(connection, "SELECT 1 FROM version WHERE adapter = \(adapter) AND number = \(number)").first != nil {
            throw numberTaken(name, number)
        }
        let assigned = number ?? latest + 1
        let id = try run(
            connection,
            """
            INSERT INTO version (adapter, number, created, peft_type, config, base_model, base_fingerprint, metadata,
                                 raw_bytes, stored_bytes, stored_dtype)
            VALUES (\(adapter), \(assigned), \(created), \(new.peftType), \(new.config), \(new.baseModel), \(new.baseFingerprint),
                    \(new.metadata), \(new.rawBytes), \(new.storedBytes), \(new.storedDType))
            RETURNING id
            """
        ).first!.decode(Int.self)
        for file in new.files {
            try run(
                connection,
                """
                INSERT INTO file (version, name, kind, position, dtype, shape, raw_bytes, blob, encoding)
                VALUES (\(id), \(file.name), \(file.kind), \(file.position), \(file.dtype), \(file.shape), \(file.rawBytes),
                        \(file.blob), \(file.encoding))
                """)
        }
        for tag in tags { try setTag(connection, adapter: adapter, tag: tag, version: id) }
        return assigned
    }

    /// Points `tag` of `adapter` at the version row `version`, moving it if it pointed elsewhere.
    private func setTag(_ connection: PostgresConnection, adapter: Int, tag: String, version: Int) throws {
        try run(
            connection,
            """
            INSERT INTO tag (adapter, name, version) VALUES (\(adapter), \(tag), \(version))
            ON CONFLICT (adapter, name) DO UPDATE SET version = EXCLUDED.version
            """)
    }

    // MARK: reading

    /// The version row id and adapter id a reference names.
    private func resolve(_ connection: PostgresConnection, _ reference: AdapterReference) throws -> (id: Int, adapter: Int) {
        guard let adapter = try run(connection, "SELECT id FROM adapter WHERE name = \(reference.name)").first?.decode(Int.self) else {
            throw noAdapter(reference.name)
        }
        let row: PostgresRow?
        switch reference.selector {
        case .latest: row = try run(connection, "SELECT id FROM version WHERE adapter = \(adapter) ORDER BY number DESC LIMIT 1").first
        case .number(let number):
            row = try run(connection, "SELECT id FROM version WHERE adapter = \(adapter) AND number = \(number)").first
        case .tag(let tag): row = try run(connection, "SELECT version FROM tag WHERE adapter = \(adapter) AND name = \(tag)").first
        }
        guard let id = try row?.decode(Int.self) else { throw noVersion(reference) }
        return (id, adapter)
    }

    /// Versions with their tags and tensor counts; `condition` selects them.
    private func versions(_ connection: PostgresConnection, where condition: PostgresQuery) throws -> [AdapterStore.Version] {
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT a.name, v.number, v.created, v.peft_type, v.config, v.base_model, v.base_fingerprint, v.metadata,
                       v.raw_bytes, v.stored_bytes, v.stored_dtype,
                       (SELECT COUNT(*) FROM file f WHERE f.version = v.id AND f.kind = 'tensor'),
                       COALESCE((SELECT string_agg(t.name, E'\\n' ORDER BY t.name) FROM tag t WHERE t.version = v.id), '')
                FROM version v JOIN adapter a ON a.id = v.adapter WHERE
                """ + " " + condition.sql + " ORDER BY a.name, v.number",
            binds: condition.binds)
        return try run(connection, query).map { row in
            let (name, number, created, peftType, config, baseModel, fingerprint, metadata, raw, stored, storedDType, tensors, tags) =
                try row.decode((String, Int, Double, String, String, String?, String?, String?, Int, Int, String?, Int, String).self)
            return AdapterStore.Version(
                name: name, version: number, created: Date(timeIntervalSince1970: created), peftType: peftType, config: config,
                baseModel: baseModel, baseFingerprint: fingerprint, tags: tags.isEmpty ? [] : tags.components(separatedBy: "\n"),
                tensorCount: tensors, rawBytes: raw, storedBytes: stored, metadata: metadata, storedDType: storedDType)
        }
    }

    public func version(_ reference: AdapterReference) throws -> AdapterStore.Version {
        try withConnection(retryingRead: true) { connection in
            let id = try resolve(connection, reference).id
            return try versions(connection, where: "v.id = \(id)")[0]
        }
    }

    public func list() throws -> [AdapterStore.Version] {
        try withConnection(retryingRead: true) { connection in try versions(connection, where: "TRUE") }
    }

    public func files(_ reference: AdapterReference) throws -> [StoredFile] {
        try withConnection(retryingRead: true) { connection in
            let id = try resolve(connection, reference).id
            return try run(
                connection,
                """
                SELECT name, kind, position, dtype, shape, raw_bytes, blob, encoding FROM file WHERE version = \(id)
                ORDER BY kind = 'tensor', position, name
                """
            ).map { row in
                let (name, kind, position, dtype, shape, raw, blob, encoding) =
                    try row.decode((String, String, Int, String?, String?, Int, String, String?).self)
                return StoredFile(
                    name: name, kind: kind, position: position, dtype: dtype, shape: shape, rawBytes: raw, blob: blob, encoding: encoding)
            }
        }
    }

    /// Collects a blob's chunks as they arrive (the row callback runs on the event loop).
    private final class ChunkCollector: @unchecked Sendable {
        let lock = NSLock()
        var bytes: [UInt8] = []
        var overflow = false
        let limit: Int
        init(limit: Int) {
            self.limit = limit
            bytes.reserveCapacity(limit)
        }
        func append(_ buffer: ByteBuffer) {
            lock.withLock {
                guard bytes.count + buffer.readableBytes <= limit else {
                    overflow = true
                    return
                }
                bytes.append(contentsOf: buffer.readableBytesView)
            }
        }
    }

    public func blob(_ hash: String, maxLength: Int) throws -> [UInt8] {
        guard BlobStore.isHash(hash) else { throw RegistryError(file: location, "\"\(hash)\" is not a blob hash") }
        return try withConnection(retryingRead: true) { connection in
            guard let size = try run(connection, "SELECT size FROM blob WHERE hash = \(hash)").first?.decode(Int.self) else {
                throw RegistryError(file: blobLocation(hash), "blob is missing")
            }
            guard size <= maxLength else {
                throw RegistryError(file: blobLocation(hash), "blob is \(size) bytes, more than the \(maxLength) recorded")
            }
            let collector = ChunkCollector(limit: size)
            _ = try connection.query("SELECT data FROM blob_chunk WHERE hash = \(hash) ORDER BY seq", logger: logger) { row in
                collector.append(try row.decode(ByteBuffer.self))
            }.wait()
            let bytes = collector.lock.withLock { collector.bytes }
            guard !collector.overflow, bytes.count == size, BlobStore.hash(bytes) == hash else {
                throw RegistryError(file: blobLocation(hash), "contents do not match the blob's hash (corrupted)")
            }
            return bytes
        }
    }

    public func blobLocation(_ hash: String) -> String { location + "#blob/" + hash }

    // MARK: changing

    public func tag(_ reference: AdapterReference, as tag: String) throws {
        try withConnection { connection in
            try runTransaction(connection) {
                let (id, adapter) = try resolve(connection, reference)
                try setTag(connection, adapter: adapter, tag: tag, version: id)
            }
        }
    }

    public func remove(_ reference: AdapterReference) throws {
        try withConnection { connection in
            try runTransaction(connection) {
                let (id, adapter) = try resolve(connection, reference)
                if reference.selector != .latest {
                    try run(connection, "DELETE FROM version WHERE id = \(id)")
                    try run(
                        connection,
                        "DELETE FROM adapter WHERE id = \(adapter) AND NOT EXISTS (SELECT 1 FROM version WHERE adapter = \(adapter))")
                } else {
                    try run(connection, "DELETE FROM adapter WHERE id = \(adapter)")
                }
            }
        }
    }

    // MARK: verify, gc

    public func verify() throws -> (corrupted: [String], missing: [String]) {
        try withConnection(retryingRead: true) { connection in
            let corrupted = try run(
                connection,
                PostgresQuery(
                    unsafeSQL: "SELECT hash FROM blob WHERE " + Self.contentHash + " <> hash "
                        + "OR size <> COALESCE((SELECT SUM(length(c.data)) FROM blob_chunk c WHERE c.hash = blob.hash), 0) ORDER BY hash")
            ).map { try $0.decode(String.self) }
            let missing = try run(
                connection, "SELECT DISTINCT f.blob FROM file f LEFT JOIN blob b ON b.hash = f.blob WHERE b.hash IS NULL ORDER BY 1"
            ).map { try $0.decode(String.self) }
            return (corrupted, missing)
        }
    }

    public func collectGarbage() throws -> Int {
        try withConnection { connection in
            try runTransaction(connection) {
                // Waits for every in-flight add (each holds the lock shared until it commits).
                try run(connection, "SELECT pg_advisory_xact_lock(\(Self.collectorLock))")
                return try run(
                    connection,
                    PostgresQuery(
                        unsafeSQL:
                            "WITH removed AS (DELETE FROM blob WHERE NOT EXISTS "
                            + "(SELECT 1 FROM file WHERE file.blob = blob.hash) RETURNING 1) SELECT COUNT(*) FROM removed")
                ).first!.decode(Int.self)
            }
        }
    }
}
