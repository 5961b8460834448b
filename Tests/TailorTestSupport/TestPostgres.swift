import Foundation

/// The PostgreSQL server the registry tests use: Scripts/test starts a throwaway one and puts its
/// URL in `TAILOR_TEST_POSTGRES`. Each test takes a database of its own, so tests running at
/// once never see each other's adapters. Statements run through `psql` (the server's package
/// brings it), which keeps the test support free of a database driver.
public enum TestPostgres {
    public static let url: String? = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }

    public static let skipMessage =
        "PostgreSQL is not available: TAILOR_TEST_POSTGRES is unset (Scripts/test installs and starts a server and sets it)"

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A new, empty database on the test server; its URL.
    public static func newDatabase() throws -> String {
        guard let url else { throw Failure(description: skipMessage) }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try psql(url, "CREATE DATABASE \(name)")
        return withDatabase(url, name)
    }

    /// `url` naming database `name` instead.
    public static func withDatabase(_ url: String, _ name: String) -> String {
        guard let slash = url.range(of: "/", options: .backwards), slash.lowerBound > url.index(url.startIndex, offsetBy: 10) else {
            return url + "/" + name
        }
        return String(url[..<slash.upperBound]) + name
    }

    /// Runs `sql` and returns psql's unaligned, tuples-only output, trimmed.
    @discardableResult
    public static func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "psql \(sql): \(problem)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A server of the test's own in `folder` (for tests that restart or stop it): its URL.
    public static func startServer(in folder: String) throws -> String {
        try cluster("start", folder).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func restartServer(in folder: String) throws { try cluster("restart", folder) }

    public static func stopServer(in folder: String) { _ = try? cluster("stop", folder) }

    @discardableResult
    static func cluster(_ command: String, _ folder: String) throws -> String {
        let process = Process()
        process.executableURL = FixturePaths.repositoryRoot.appendingPathComponent("Scripts/postgres-cluster")
        process.arguments = [command, folder]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "Scripts/postgres-cluster \(command) failed") }
        return text
    }
}

/// The registries a backend-independent test runs against: always a folder, and a PostgreSQL
/// database when the test server is there.
public enum TestRegistryKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case folder, postgres

    public static var available: [TestRegistryKind] { TestPostgres.url == nil ? [.folder] : [.folder, .postgres] }

    /// A new, empty registry of this kind: a folder inside `folder`, or a new database.
    public func make(in folder: TemporaryFolder, name: String = "registry") throws -> String {
        switch self {
        case .folder: folder.file(name)
        case .postgres: try TestPostgres.newDatabase()
        }
    }

    public var description: String { rawValue }
}
