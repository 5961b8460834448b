import Foundation
import Testing

/// `tailor serve` as a process: it prints where it listens, answers, and on SIGTERM finishes the
/// request it is streaming, refuses new connections and exits 0.
@Suite struct ServeEndToEndTests {
    /// A running `tailor serve` whose stdout is read line by line.
    final class ServeProcess: @unchecked Sendable {
        let process = Process()
        let output = Pipe()
        let errors = Pipe()

        init(_ arguments: [String]) throws {
            process.executableURL = TailorProcess.executable
            process.arguments = ["serve"] + arguments
            process.standardOutput = output
            process.standardError = errors
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// The port from the `--json` line `{"listening": {"host": …, "port": N}}`.
        func port() throws -> Int {
            var line = Data()
            while true {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                guard !byte.isEmpty else { throw HTTPTestClient.Failure("serve ended before listening") }
                if byte == Data("\n".utf8) { break }
                line.append(byte)
            }
            let json = try JSONSerialization.jsonObject(with: line) as? [String: [String: Any]]
            return try #require(json?["listening"]?["port"] as? Int)
        }

        func waitForReady(_ port: Int) async throws {
            for _ in 0..<500 {
                if let reply = try? await HTTPTestClient.send(port: port, "GET", "/health"), reply.status == 200 { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw HTTPTestClient.Failure("the model did not load")
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    @Test func sigtermFinishesTheRunningStreamThenExitsZero() async throws {
        let server = try ServeProcess(["--model", TailorProcess.fixture("tiny-llama"), "--port", "0", "--json"])
        defer { server.stop() }
        let port = try server.port()
        try await server.waitForReady(port)
        let client = HTTPTestClient(port: port)
        let body: [String: Any] = ["prompt": "Once", "max_tokens": 120, "temperature": 0, "stream": true]
        try client.open("POST", "/v1/completions", body: try JSONSerialization.data(withJSONObject: body))
        #expect(try client.readHead().status == 200)
        var text = String(decoding: try #require(try client.readChunk()), as: UTF8.self)
        kill(server.process.processIdentifier, SIGTERM)
        while let chunk = try client.readChunk() { text += String(decoding: chunk, as: UTF8.self) }
        #expect(text.hasSuffix("data: [DONE]\n\n"), "the stream ran to its end")
        #expect(text.contains("\"finish_reason\":\"length\""))
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        await #expect(throws: (any Error).self) { try await HTTPTestClient.send(port: port, "GET", "/health") }
        let log = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("status=200 prompt_tokens="), "one line per request:\n\(log)")
    }

    @Test func aModelThatCannotLoadEndsWithOneErrorLine() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run(["serve", "--model", folder.path, "--port", "0"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("config.json"), "\(result.stderr)")
    }
}
