import Foundation
import Logging
import Serving
import TailorTestSupport

/// A `tailor serve` server in this process on a free loopback port, for one test.
final class RunningServer: @unchecked Sendable {
    let server: Server
    let port: Int
    private let task: Task<Void, any Error>

    static let tinyLlama = FixturePaths.path("tiny-llama")
    static let tinyBert = FixturePaths.path("tiny-bert")
    static let peft = FixturePaths.path("peft")

    private init(server: Server, port: Int, task: Task<Void, any Error>) {
        (self.server, self.port, self.task) = (server, port, task)
    }

    /// Starts a server and waits until `/health` says the model has loaded.
    static func start(_ configuration: ServerConfiguration, waitForReady: Bool = true) async throws -> RunningServer {
        var configuration = configuration
        configuration.port = 0
        var logger = Logger(label: "serving-tests")
        logger.logLevel = .warning
        let server = Server(configuration: configuration, logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run(signals: false) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw HTTPTestClient.Failure("the server did not start") }
        let running = RunningServer(server: server, port: port, task: task)
        if waitForReady {
            for _ in 0..<600 {
                if try await running.get("/health").status == 200 { return running }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw HTTPTestClient.Failure("the model did not load")
        }
        return running
    }

    /// Stops the server as SIGTERM does and waits for it; rethrows what `run` threw.
    func stop() async throws {
        await server.stop()
        try await task.value
    }

    func post(_ path: String, _ json: Any, headers: [String: String] = [:]) async throws -> HTTPTestClient.Reply {
        try await HTTPTestClient.send(port: port, "POST", path, json: json, headers: headers)
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> HTTPTestClient.Reply {
        try await HTTPTestClient.send(port: port, "GET", path, headers: headers)
    }

    /// The value of one sample line of `/metrics` (a counter or gauge), 0 when absent.
    func metric(_ line: String) async throws -> Double {
        let text = try await get("/metrics").text
        for row in text.split(separator: "\n") where row.hasPrefix(line + " ") {
            return Double(row.split(separator: " ").last!) ?? 0
        }
        return 0
    }
}
