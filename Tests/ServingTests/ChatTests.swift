import Foundation
import Jinja
import Serving
import TailorTestSupport
import Testing
import Tokenizers

/// Chat completions: the model's chat template renders the messages as transformers would, the
/// prompt is encoded without added special tokens, and the answer is the completion of it.
@Suite(.serialized) struct ChatTests {
    /// The tiny Llama with SmolLM2's chat template beside it.
    static func chatModel(_ folder: TemporaryFolder) throws -> String {
        let model = folder.file("tiny-llama-chat")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.createSymbolicLink(
                atPath: model + "/" + name, withDestinationPath: RunningServer.tinyLlama + "/" + name)
        }
        let template = try String(contentsOfFile: FixturePaths.path("chat-templates/smollm2-instruct.jinja"), encoding: .utf8)
        let config: [String: Any] = ["chat_template": template, "bos_token": "<s>", "eos_token": "</s>"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: model + "/tokenizer_config.json"))
        return model
    }

    nonisolated(unsafe) static let messages: [[String: Any]] = [
        ["role": "system", "content": "You are terse."],
        ["role": "user", "content": [["type": "text", "text": "Say hello"], ["type": "text", "text": "twice"]]],
    ]

    @Test func chatAnswersTheTemplatedPrompt() async throws {
        let folder = TemporaryFolder()
        let model = try Self.chatModel(folder)
        let running = try await RunningServer.start(ServerConfiguration(model: model, registry: folder.file("registry")))
        let reply = try await running.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 10, "temperature": 0])
        #expect(reply.status == 200, "\(reply.text)")
        let json = try reply.json()
        #expect(json["object"] as? String == "chat.completion")
        let choice = try #require((json["choices"] as? [[String: Any]])?.first)
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")

        let template = try ChatTemplate(folder: model)
        let joined: [[String: Any]] = [Self.messages[0], ["role": "user", "content": "Say hello\ntwice"]]
        let text = try template.render(messages: joined, addGenerationPrompt: true)
        #expect(text.hasSuffix("<|im_start|>assistant\n"))
        let ids = try Tokenizer(path: model).encode(text, addSpecialTokens: false).ids
        let plain = try await running.post("/v1/completions", ["prompt": ids, "max_tokens": 10, "temperature": 0])
        let expected = try #require((try plain.json()["choices"] as? [[String: Any]])?.first)
        #expect(message["content"] as? String == expected["text"] as? String)
        #expect(choice["token_ids"] as? [Int] == expected["token_ids"] as? [Int])
        let usage = try #require(json["usage"] as? [String: Int])
        #expect(usage["prompt_tokens"] == ids.count)

        var streamed: [String: Any] = ["messages": Self.messages, "max_tokens": 10, "temperature": 0, "stream": true]
        streamed["stream_options"] = ["include_usage": true]
        let stream = try await running.post("/v1/chat/completions", streamed)
        let chunks = try stream.events.dropLast().map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(stream.events.last == "[DONE]")
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(deltas.compactMap { $0["content"] as? String }.joined() == message["content"] as? String)
        #expect((chunks.last?["usage"] as? [String: Int])?["completion_tokens"] == usage["completion_tokens"])
        try await running.stop()
    }

    @Test func aModelWithoutATemplateRefusesChatOnly() async throws {
        let folder = TemporaryFolder()
        let running = try await RunningServer.start(ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry")))
        let reply = try await running.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]]])
        #expect(reply.status == 400)
        let message = (try reply.json()["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("tokenizer_config.json: no such file"), "\(message)")
        try await running.stop()
    }
}
