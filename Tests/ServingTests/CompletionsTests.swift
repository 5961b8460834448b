import Foundation
import Inference
import Registry
import Serving
import TailorTestSupport
import Testing
import Workflows

/// Completions through the server equal `tailor generate`'s, token for token, while requests
/// for different adapters are decoded in one batch; streamed answers add up to whole ones.
@Suite(.serialized) struct CompletionsTests {
    static let prompts = ["The quick brown fox", "Once upon a time", "Hello"]

    /// A registry with two tiny-Llama adapters and a server over it (the DoRA adapter is
    /// registered by folder through /v1/load_lora_adapter).
    static func start(_ folder: TemporaryFolder, edit: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningServer {
        let store = try AdapterStore(root: folder.file("registry"))
        _ = try store.add(folder: RunningServer.peft + "/tiny-llama-lora", name: "lora", tags: ["prod"])
        _ = try store.add(folder: RunningServer.peft + "/tiny-llama-ia3", name: "ia3")
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.force = true
        edit(&configuration)
        return try await RunningServer.start(configuration)
    }

    @Test func greedyCompletionsEqualGenerateWithAdaptersMixedInOneBatch() async throws {
        let folder = TemporaryFolder()
        let running = try await Self.start(folder)
        let loaded = try await running.post(
            "/v1/load_lora_adapter", ["lora_name": "dora", "lora_path": RunningServer.peft + "/tiny-llama-dora"])
        #expect(loaded.status == 200, "\(loaded.text)")
        let models = ["", "tiny-llama", "lora", "lora@prod", "ia3", "dora", "lora:0.5+ia3"]
        let requests = models.flatMap { model in Self.prompts.map { (model, $0) } }
        let answers = try await withThrowingTaskGroup(of: (Int, [Int], String).self) { group in
            for (index, (model, prompt)) in requests.enumerated() {
                group.addTask {
                    let reply = try await running.post(
                        "/v1/completions", ["model": model, "prompt": prompt, "max_tokens": 12, "temperature": 0])
                    let choice = try #require((try reply.json()["choices"] as? [[String: Any]])?.first, "\(reply.text)")
                    return (index, choice["token_ids"] as? [Int] ?? [], choice["text"] as? String ?? "")
                }
            }
            var answers = [(tokens: [Int], text: String)](repeating: ([], ""), count: requests.count)
            for try await (index, tokens, text) in group { answers[index] = (tokens, text) }
            return answers
        }
        let resolver = AdapterResolver(model: RunningServer.tinyLlama, registryRoot: folder.file("registry"), force: true)
        for (index, (model, prompt)) in requests.enumerated() {
            let references: [String]
            switch model {
            case "", "tiny-llama": references = []
            case "dora": references = [RunningServer.peft + "/tiny-llama-dora"]
            default: references = model.split(separator: "+").map(String.init)
            }
            let generator = try TextGenerator(folder: RunningServer.tinyLlama, adapters: try resolver.resolve(references: references))
            let alone = try generator.generate(prompt, maxNewTokens: 12, sampling: .greedy)
            #expect(answers[index].tokens == alone.tokens, "\(model.isEmpty ? "base" : model) / \(prompt)")
            #expect(answers[index].text == alone.text)
        }
        #expect(try await running.metric("tailor_adapters_loaded") == 5)
        let steps = try await running.metric("tailor_decode_steps_total")
        let tokens = try await running.metric("tailor_generated_tokens_total")
        #expect(steps < tokens, "rows of different requests share decode steps (\(steps) steps for \(tokens) tokens)")
        try await running.stop()
    }

    /// Prompts prefilled a few tokens per step, interleaved with other requests' decoding, give
    /// the tokens a whole-prompt prefill gives.
    @Test func chunkedPrefillGivesTheSameTokens() async throws {
        let folder = TemporaryFolder()
        let running = try await Self.start(folder) { $0.prefillChunk = 3 }
        let prompts = ["The quick brown fox jumps over the lazy dog again and again", "Hi", "Once upon a time there was"]
        let answers = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (index, prompt) in prompts.enumerated() {
                group.addTask {
                    let reply = try await running.post(
                        "/v1/completions", ["model": "lora", "prompt": prompt, "max_tokens": 8, "temperature": 0])
                    return (index, (try reply.json()["choices"] as? [[String: Any]])?.first?["token_ids"] as? [Int] ?? [])
                }
            }
            return try await group.reduce(into: [Int: [Int]]()) { $0[$1.0] = $1.1 }
        }
        let resolver = AdapterResolver(model: RunningServer.tinyLlama, registryRoot: folder.file("registry"), force: true)
        let generator = try TextGenerator(folder: RunningServer.tinyLlama, adapters: try resolver.resolve(references: ["lora"]))
        for (index, prompt) in prompts.enumerated() {
            #expect(answers[index] == (try generator.generate(prompt, maxNewTokens: 8, sampling: .greedy)).tokens, "\(prompt)")
        }
        try await running.stop()
    }

    @Test func aStreamAddsUpToTheWholeAnswer() async throws {
        let folder = TemporaryFolder()
        let running = try await Self.start(folder)
        let request: [String: Any] = ["model": "lora", "prompt": "Once upon a time", "max_tokens": 20, "temperature": 0.8, "seed": 7]
        let whole = try await running.post("/v1/completions", request)
        let wholeJSON = try whole.json()
        let wholeChoice = try #require((wholeJSON["choices"] as? [[String: Any]])?.first)
        var streamed = request
        streamed["stream"] = true
        streamed["stream_options"] = ["include_usage": true]
        let reply = try await running.post("/v1/completions", streamed)
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/event-stream")
        let events = reply.events
        #expect(events.last == "[DONE]")
        var text = "", reason: String?, usage: [String: Any]?
        for event in events.dropLast() {
            let chunk = try #require(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
            #expect(chunk["object"] as? String == "text_completion")
            for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                text += choice["text"] as? String ?? ""
                if let why = choice["finish_reason"] as? String { reason = why }
            }
            if let counts = chunk["usage"] as? [String: Any] { usage = counts }
        }
        #expect(text == wholeChoice["text"] as? String, "the same seed samples the same tokens")
        #expect(reason == wholeChoice["finish_reason"] as? String)
        let wholeUsage = try #require(wholeJSON["usage"] as? [String: Int])
        #expect(usage?["completion_tokens"] as? Int == wholeUsage["completion_tokens"])
        #expect(wholeUsage["total_tokens"] == wholeUsage["prompt_tokens"]! + wholeUsage["completion_tokens"]!)
        try await running.stop()
    }

    @Test func stopStringsEndTheAnswer() async throws {
        let folder = TemporaryFolder()
        let running = try await Self.start(folder)
        let free = try await running.post("/v1/completions", ["prompt": "Hello", "max_tokens": 30, "temperature": 0])
        let text = try #require((try free.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)
        let characters = Array(text)
        try #require(characters.count > 6)
        let stop = String(characters[3..<5])
        let cut = try await running.post("/v1/completions", ["prompt": "Hello", "max_tokens": 30, "temperature": 0, "stop": [stop]])
        let choice = try #require((try cut.json()["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == String(text[..<text.range(of: stop)!.lowerBound]))
        #expect(choice["finish_reason"] as? String == "stop")
        try await running.stop()
    }

    /// A list of prompts is one choice per prompt, in order, each what the prompt gets alone.
    @Test func aListOfPromptsGetsOneChoiceEach() async throws {
        let folder = TemporaryFolder()
        let running = try await Self.start(folder)
        let reply = try await running.post("/v1/completions", ["model": "lora", "prompt": Self.prompts, "max_tokens": 6, "temperature": 0])
        let json = try reply.json()
        let choices = try #require(json["choices"] as? [[String: Any]], "\(reply.text)")
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
        for (choice, prompt) in zip(choices, Self.prompts) {
            let alone = try await running.post("/v1/completions", ["model": "lora", "prompt": prompt, "max_tokens": 6, "temperature": 0])
            #expect(choice["text"] as? String == (try alone.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)
        }
        #expect((json["usage"] as? [String: Int])?["completion_tokens"] == 18)
        try await running.stop()
    }
}
