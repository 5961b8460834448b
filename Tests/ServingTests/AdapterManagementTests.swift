import Foundation
import Inference
import Registry
import Serving
import TailorTestSupport
import Testing
import Workflows

/// `/v1/models`, vLLM's load and unload endpoints, least-recently-used eviction, classification
/// with adapters, health and metrics.
@Suite(.serialized) struct AdapterManagementTests {
    static func names(_ reply: HTTPTestClient.Reply) throws -> [String: [String: Any]] {
        let data = try #require(try reply.json()["data"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: data.map { ($0["id"] as! String, $0) })
    }

    @Test func modelsListTheBaseTheRegistryAndLoadedAdapters() async throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: folder.file("registry"))
        _ = try store.add(folder: RunningServer.peft + "/tiny-llama-lora", name: "lora")
        _ = try store.add(folder: RunningServer.peft + "/tiny-llama-ia3", name: "ia3")
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.force = true
        configuration.adapters = ["dora=" + RunningServer.peft + "/tiny-llama-dora"]
        configuration.servedModelName = "tiny"
        let running = try await RunningServer.start(configuration)
        var models = try Self.names(try await running.get("/v1/models"))
        #expect(Set(models.keys) == ["tiny", "lora", "ia3", "dora"])
        #expect(models["tiny"]?["parent"] is NSNull && models["tiny"]?["max_model_len"] as? Int == 128)
        #expect(models["dora"]?["parent"] as? String == "tiny" && models["dora"]?["loaded"] as? Bool == true)
        #expect(models["lora"]?["loaded"] as? Bool == false && models["lora"]?["root"] as? String == "lora@1")
        #expect(try await running.post("/v1/completions", ["model": "lora", "prompt": "hi", "max_tokens": 2]).status == 200)
        models = try Self.names(try await running.get("/v1/models"))
        #expect(models["lora"]?["loaded"] as? Bool == true, "loaded just in time")
        #expect(try await running.post("/v1/completions", ["model": "tiny", "prompt": "hi", "max_tokens": 2]).status == 200)

        let again = try await running.post(
            "/v1/load_lora_adapter", ["lora_name": "dora", "lora_path": RunningServer.peft + "/tiny-llama-dora"])
        #expect(again.status == 400, "a name is loaded once")
        let nowhere = try await running.post("/v1/load_lora_adapter", ["lora_name": "x", "lora_path": folder.file("missing")])
        #expect(nowhere.status == 404)
        let broken = folder.file("broken")
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try Data("{".utf8).write(to: URL(fileURLWithPath: broken + "/adapter_config.json"))
        let bad = try await running.post("/v1/load_lora_adapter", ["lora_name": "broken", "lora_path": broken])
        #expect(bad.status == 400, "\(bad.text)")
        #expect(try Self.names(try await running.get("/v1/models"))["broken"] == nil, "a failed load leaves nothing behind")

        #expect(try await running.post("/v1/unload_lora_adapter", ["lora_name": "dora"]).status == 200)
        #expect(try await running.post("/v1/unload_lora_adapter", ["lora_name": "dora"]).status == 404)
        let gone = try await running.post("/v1/completions", ["model": "dora", "prompt": "hi", "max_tokens": 2])
        #expect(gone.status == 404)
        try await running.stop()
    }

    /// With room for two adapters, a third evicts the least recently used one; answers stay the
    /// same when an evicted adapter comes back.
    @Test func theLeastRecentlyUsedAdapterIsEvicted() async throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: folder.file("registry"))
        for name in ["lora", "ia3", "dora"] { _ = try store.add(folder: RunningServer.peft + "/tiny-llama-" + name, name: name) }
        var configuration = ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("registry"))
        configuration.force = true
        configuration.maxLoadedAdapters = 2
        let running = try await RunningServer.start(configuration)
        func ask(_ model: String) async throws -> [Int] {
            let reply = try await running.post("/v1/completions", ["model": model, "prompt": "Once", "max_tokens": 6, "temperature": 0])
            return try #require((try reply.json()["choices"] as? [[String: Any]])?.first?["token_ids"] as? [Int], "\(reply.text)")
        }
        let first = try await ask("lora")
        _ = try await ask("ia3")
        _ = try await ask("lora")
        _ = try await ask("dora")
        let loaded = try Self.names(try await running.get("/v1/models")).filter { $0.value["loaded"] as? Bool == true }.keys
        #expect(Set(loaded) == ["tiny-llama", "lora", "dora"], "ia3 was the least recently used")
        #expect(try await running.metric("tailor_adapter_evictions_total") == 1)
        _ = try await ask("ia3")
        _ = try await ask("dora")
        #expect(try await ask("lora") == first)
        #expect(try await running.metric("tailor_adapter_loads_total") == 5)
        #expect(try await running.metric("tailor_adapters_loaded") == 2)
        try await running.stop()
    }

    @Test func classifyLabelsTextsWithTheAdapterNamed() async throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: folder.file("registry"))
        _ = try store.add(folder: RunningServer.peft + "/tiny-bert-lora", name: "sentiment")
        var configuration = ServerConfiguration(model: RunningServer.tinyBert, registry: folder.file("registry"))
        configuration.force = true
        let running = try await RunningServer.start(configuration)
        let texts = ["a fine day", "terrible weather", "ok"]
        let reply = try await running.post("/v1/classify", ["model": "sentiment", "input": texts])
        #expect(reply.status == 200, "\(reply.text)")
        let data = try #require(try reply.json()["data"] as? [[String: Any]])
        let resolver = AdapterResolver(model: RunningServer.tinyBert, registryRoot: folder.file("registry"), force: true)
        let expected = try TextClassifier(folder: RunningServer.tinyBert, adapters: try resolver.resolve(references: ["sentiment"]))
            .classify(texts)
        for (row, alone) in zip(data, expected) {
            #expect(row["label"] as? String == alone.label)
            let logits = (row["logits"] as? [Double] ?? []).map(Float.init)
            #expect(zip(logits, alone.logits).allSatisfy { abs($0 - $1) < 1e-5 }, "\(logits) vs \(alone.logits)")
            #expect(row["adapter"] as? String == "sentiment")
        }
        let base = try await running.post("/v1/classify", ["input": "a fine day"])
        #expect(base.status == 200)
        let completion = try await running.post("/v1/completions", ["prompt": "hi"])
        #expect(completion.status == 400, "a classifier does not generate")
        try await running.stop()
    }

    @Test func aModelThatFailsToLoadIs503AndEndsTheServer() async throws {
        let folder = TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.file("model"), withIntermediateDirectories: true)
        try Data("{\"model_type\": \"llama\"}".utf8).write(to: URL(fileURLWithPath: folder.file("model/config.json")))
        let running = try await RunningServer.start(
            ServerConfiguration(model: folder.file("model"), registry: folder.file("r")), waitForReady: false)
        await #expect(throws: (any Error).self) { try await running.stop() }
    }

    @Test func metricsAreInPrometheusText() async throws {
        let folder = TemporaryFolder()
        let running = try await RunningServer.start(ServerConfiguration(model: RunningServer.tinyLlama, registry: folder.file("r")))
        _ = try await running.post("/v1/completions", ["prompt": "hi", "max_tokens": 4, "temperature": 0, "stream": true])
        let reply = try await running.get("/metrics")
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain") == true)
        for name in [
            "tailor_requests_total", "tailor_queue_length", "tailor_running_batch_size", "tailor_prompt_tokens_total",
            "tailor_generated_tokens_total", "tailor_time_to_first_token_seconds_bucket", "tailor_time_per_output_token_seconds_bucket",
        ] {
            #expect(reply.text.contains(name), "\(name) is missing")
        }
        #expect(try await running.metric(#"tailor_requests_total{endpoint="/v1/completions",status="200"}"#) == 1)
        #expect(try await running.metric("tailor_time_to_first_token_seconds_count") == 1)
        try await running.stop()
    }
}
