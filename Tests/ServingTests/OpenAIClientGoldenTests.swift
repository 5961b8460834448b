import Foundation
import Registry
import Serving
import TailorTestSupport
import Testing

/// Replays what the official `openai` Python client sent and parsed
/// (Scripts/reference/openai_client_goldens.py, which also checked those answers against
/// `tailor generate`): the server still answers every request the same, and every error with
/// the status the client maps to the same exception.
@Suite struct OpenAIClientGoldenTests {
    @Test func theServerStillAnswersWhatTheOpenAIClientRecorded() async throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("serving/openai-client.json")))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(golden["cases"] as? [[String: Any]])
        let folder = TemporaryFolder()
        let model = try ChatTests.chatModel(folder)
        let store = try AdapterStore(root: folder.file("registry"))
        for name in ["lora", "ia3"] { _ = try store.add(folder: RunningServer.peft + "/tiny-llama-" + name, name: name) }
        var configuration = ServerConfiguration(model: model, registry: folder.file("registry"))
        configuration.force = true
        configuration.servedModelName = "tiny-llama-chat"
        configuration.maxTokens = 64
        let running = try await RunningServer.start(configuration)
        var checked = 0
        for entry in cases {
            let endpoint = try #require(entry["endpoint"] as? String)
            switch endpoint {
            case "/v1/completions", "/v1/chat/completions":
                let request = try #require(entry["request"] as? [String: Any])
                let reply = try await running.post(endpoint, request)
                let json = try reply.json()
                let choice = try #require((json["choices"] as? [[String: Any]])?.first, "\(reply.text)")
                let text =
                    endpoint == "/v1/completions" ? choice["text"] as? String : (choice["message"] as? [String: Any])?["content"] as? String
                #expect(text == entry["text"] as? String, "\(endpoint) \(request["model"] ?? "")")
                #expect(choice["finish_reason"] as? String == entry["finish_reason"] as? String)
                let usage = json["usage"] as? [String: Int], expected = entry["usage"] as? [String: Any]
                #expect(usage?["completion_tokens"] == expected?["completion_tokens"] as? Int)
                #expect(usage?["prompt_tokens"] == expected?["prompt_tokens"] as? Int)
            case "/v1/models":
                let listed = try #require(try await running.get("/v1/models").json()["data"] as? [[String: Any]])
                #expect(listed.compactMap { $0["id"] as? String }.sorted() == entry["ids"] as? [String])
            case "errors":
                for error in entry["errors"] as? [[String: Any]] ?? [] {
                    let status = error["status"] as? Int
                    let reply: HTTPTestClient.Reply
                    switch error["case"] as? String {
                    case "unknown adapter":
                        reply = try await running.post("/v1/completions", ["model": "nope", "prompt": "hi", "max_tokens": 2])
                    case "max_tokens too large":
                        reply = try await running.post("/v1/completions", ["model": "", "prompt": "hi", "max_tokens": 65])
                    default: reply = try await running.post("/v1/chat/completions", ["model": "", "messages": [], "max_tokens": 2])
                    }
                    #expect(reply.status == status, "\(error)")
                }
            default:
                Issue.record("unknown golden endpoint \(endpoint)")
            }
            checked += 1
        }
        #expect(checked == cases.count && checked >= 8)
        try await running.stop()
    }
}
