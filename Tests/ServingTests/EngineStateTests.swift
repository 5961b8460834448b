import Adapters
import Foundation
import Inference
import TailorTestSupport
import Testing
import Workflows

@testable import Serving

/// Before the model has loaded and once shutdown began, the engine turns work away with 503 and
/// Retry-After, as /health does; a queue at its limit refuses a request's prompts all together.
@Suite struct EngineStateTests {
    @Test func anEngineThatHasNotLoadedAnswers503() async throws {
        let engine = Engine(
            configuration: ServerConfiguration(model: RunningServer.tinyLlama, registry: "unused"), metrics: ServerMetrics())
        #expect(engine.status == .loading)
        #expect(throws: ServingError.self) { try engine.readyInfo() }
        do {
            _ = try engine.readyInfo()
        } catch let error as ServingError {
            #expect(error.status == 503 && error.retryAfter == 1)
            let response = HTTPResponses.error(error)
            #expect(response.status.code == 503)
            #expect(response.headers[.retryAfter] == "1")
        }
        await #expect(throws: ServingError.self) { try await engine.perform { _ in 1 } }
    }

    @Test func aStartedEngineBecomesReadyThenStops() async throws {
        let engine = Engine(
            configuration: ServerConfiguration(model: RunningServer.tinyLlama, registry: "unused"), metrics: ServerMetrics())
        engine.start()
        for _ in 0..<500 where engine.status == .loading { try await Task.sleep(for: .milliseconds(10)) }
        #expect(engine.status == .ready)
        #expect(try engine.readyInfo().contextLength == 128)
        engine.shutdown()
        await engine.waitUntilStopped()
        #expect(engine.status == .stopped)
        #expect((try? engine.readyInfo()) == nil, "a stopped engine takes no work")
    }
}

/// The adapter cache on its own: an adapter a running request holds is neither evicted nor
/// unloaded (409), and a name is registered once.
@Suite struct LoadedAdaptersTests {
    @Test func aHeldAdapterIsNeitherEvictedNorUnloaded() throws {
        let generator = try TextGenerator(folder: RunningServer.tinyLlama, switching: true)
        let resolver = AdapterResolver(model: RunningServer.tinyLlama, registryRoot: "unused", force: true)
        let adapters = LoadedAdapters(
            slots: generator.slots!, resolver: resolver, capacity: 1, baseNames: ["", "tiny-llama"], metrics: ServerMetrics())
        try adapters.register("dora", folder: RunningServer.peft + "/tiny-llama-dora")
        try adapters.register("ia3", folder: RunningServer.peft + "/tiny-llama-ia3")
        #expect(adapters.entries.keys.sorted() == ["ia3"], "room for one: dora was evicted")
        let slot = try #require(try adapters.acquire("ia3"))
        #expect(try adapters.acquire("dora") == nil, "the only slot is held: the request waits")
        #expect(throws: ServingError.self) { try adapters.unload("ia3") }
        do {
            try adapters.unload("ia3")
        } catch let error as ServingError {
            #expect(error.status == 409)
        }
        #expect(try adapters.acquire("") == AdapterSlots.base)
        adapters.release("ia3")
        try adapters.unload("ia3")
        #expect(!generator.slots!.contains(slot))
        #expect(try adapters.acquire("dora") != nil, "registered folders load again by name")
        #expect(throws: ServingError.self) { try adapters.register("dora", folder: RunningServer.peft + "/tiny-llama-dora") }
    }
}
