import Foundation
import Registry
import Serving
import TailorTestSupport
import Testing

/// Every refusal is OpenAI's error object with the status a client library maps to its error
/// types, and none of them disturbs the requests around it.
@Suite(.serialized) struct ErrorResponseTests {
    static func error(_ reply: HTTPTestClient.Reply) throws -> [String: Any] {
        try #require(try reply.json()["error"] as? [String: Any], "\(reply.status) \(reply.text)")
    }

    @Test func badRequestsAre400And404() async throws {
        let folder = TemporaryFolder()
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.maxTokens = 40
        let running = try await RunningServer.start(configuration)
        let cases: [(Any, Int, String)] = [
            (["prompt": "hi", "max_tokens": 41], 400, "max_tokens"),
            (["prompt": "hi", "max_tokens": 0], 400, "max_tokens"),
            (["prompt": String(repeating: "word ", count: 200), "max_tokens": 10], 400, "maximum context length"),
            (["prompt": "hi", "temperature": 3], 400, "temperature"),
            (["prompt": "hi", "top_p": 0], 400, "top_p"),
            (["prompt": "hi", "n": 2], 400, "n = 1"),
            (["prompt": [99999], "max_tokens": 2], 400, "vocabulary"),
            (["max_tokens": 2], 400, "prompt"),
            (["prompt": 5], 400, "prompt"),
            (["prompt": "hi", "model": "missing-adapter"], 404, "does not exist"),
            (["prompt": "hi", "model": "/etc"], 404, "does not exist"),
        ]
        for (body, status, words) in cases {
            let reply = try await running.post("/v1/completions", body)
            #expect(reply.status == status, "\(body): \(reply.text)")
            let error = try Self.error(reply)
            #expect((error["message"] as? String ?? "").contains(words), "\(body): \(error)")
            #expect(error["type"] as? String == "invalid_request_error")
        }
        let broken = try await HTTPTestClient.send(port: running.port, "POST", "/v1/completions", body: Data("{not json".utf8))
        #expect(broken.status == 400)
        let many = try await running.post("/v1/completions", ["prompt": [String](repeating: "hi", count: 17), "max_tokens": 2])
        #expect(many.status == 400, "more prompts than --max-batch")
        let huge = try await HTTPTestClient.send(
            port: running.port, "POST", "/v1/completions",
            body: Data(("{\"prompt\": \"" + String(repeating: "a", count: 9 << 20) + "\"}").utf8))
        #expect(huge.status == 413)
        let missing = try await running.get("/v1/nothing")
        #expect(missing.status == 404)
        #expect(try Self.error(missing)["message"] as? String == "no route GET /v1/nothing")
        let classify = try await running.post("/v1/classify", ["input": ["x"]])
        #expect(classify.status == 400, "a generating server does not classify")
        let fine = try await running.post("/v1/completions", ["prompt": "hi", "max_tokens": 3, "temperature": 0])
        #expect(fine.status == 200)
        #expect(try await running.metric(#"tailor_requests_total{endpoint="/v1/completions",status="400"}"#) == 11)
        try await running.stop()
    }

    @Test func anAPIKeyIsRequiredOnV1Routes() async throws {
        let folder = TemporaryFolder()
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.apiKey = "s3cret-key"
        let running = try await RunningServer.start(configuration)
        let body: [String: Any] = ["prompt": "hi", "max_tokens": 2]
        for headers in [[:], ["Authorization": "Bearer wrong"], ["Authorization": "Bearer s3cret-ke"], ["Authorization": "s3cret-key"]] {
            let reply = try await running.post("/v1/completions", body, headers: headers)
            #expect(reply.status == 401, "\(headers)")
            #expect(try Self.error(reply)["code"] as? String == "invalid_api_key")
        }
        #expect(try await running.post("/v1/completions", body, headers: ["Authorization": "Bearer s3cret-key"]).status == 200)
        #expect(try await running.get("/health").status == 200, "health needs no key")
        try await running.stop()
    }

    /// Room for one running and one waiting request: of a burst of 16, most are turned away with
    /// 429 and Retry-After, and every other one is answered in full.
    @Test func aFullQueueAnswers429() async throws {
        let folder = TemporaryFolder()
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.maxBatch = 1
        configuration.maxQueue = 1
        let running = try await RunningServer.start(configuration)
        let replies = try await withThrowingTaskGroup(of: HTTPTestClient.Reply.self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await running.post("/v1/completions", ["prompt": "burst \(index)", "max_tokens": 100, "temperature": 0])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = replies.filter { $0.status == 429 }
        #expect(refused.count >= 8, "\(replies.map(\.status))")
        #expect(replies.allSatisfy { $0.status == 429 || $0.status == 200 })
        for reply in refused {
            #expect(reply.headers["retry-after"] == "1")
            #expect(try Self.error(reply)["type"] as? String == "rate_limit_error")
        }
        try await running.stop()
    }

    @Test func aRequestPastItsTimeoutIs408() async throws {
        let folder = TemporaryFolder()
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.requestTimeout = 0.001
        let running = try await RunningServer.start(configuration)
        let reply = try await running.post("/v1/completions", ["prompt": "a", "max_tokens": 120, "temperature": 0])
        #expect(reply.status == 408, "\(reply.text)")
        #expect(try Self.error(reply)["code"] as? String == "timeout")
        try await running.stop()
    }

    /// A client hanging up mid-stream frees its place in the batch: with room for one sequence,
    /// the next request does not wait for the abandoned one's 120 tokens.
    @Test func aClientThatLeavesMidStreamFreesItsSlot() async throws {
        let folder = TemporaryFolder()
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.maxBatch = 1
        let running = try await RunningServer.start(configuration)
        let client = HTTPTestClient(port: running.port)
        try client.open(
            "POST", "/v1/completions",
            body: try JSONSerialization.data(withJSONObject: ["prompt": "a", "max_tokens": 120, "temperature": 0, "stream": true]))
        _ = try client.readHead()
        _ = try client.readChunk()
        client.close()
        let next = try await running.post("/v1/completions", ["prompt": "b", "max_tokens": 3, "temperature": 0])
        #expect(next.status == 200)
        let generated = try await running.metric("tailor_generated_tokens_total")
        #expect(generated < 120, "the abandoned stream stopped early (\(generated) tokens in all)")
        try await running.stop()
    }
}
