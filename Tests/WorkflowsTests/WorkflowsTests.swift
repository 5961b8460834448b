import Adapters
import Foundation
import Inference
import Registry
import TailorTestSupport
import Testing
import Training
import Workflows

/// The library calls the CLI and a server share: slots named per request, a training run that
/// stops on its own token, new adapters saved to a folder and the registry.
@Suite struct WorkflowsTests {
    static let tinyBert = FixturePaths.path("tiny-bert")
    static let peft = FixturePaths.path("peft")

    /// Each distinct name is attached once; "" is the plain base, no name the default slot; a
    /// weighted stack (`a:0.5`) is a slot of its own. Results equal each adapter applied alone.
    @Test func slotsFollowTheNamesRequestsGive() throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: folder.file("registry"))
        _ = try store.add(folder: Self.peft + "/tiny-bert-ia3", name: "ia3")
        let resolver = AdapterResolver(model: Self.tinyBert, registryRoot: folder.file("registry"), force: true)
        let lora = Self.peft + "/tiny-bert-lora"
        let classifier = try TextClassifier(folder: Self.tinyBert, adapters: try resolver.resolve(references: [lora]), switching: true)
        let slots = try #require(classifier.slots)
        let names: [String?] = [nil, "ia3", "", "ia3", lora + ":0.5", nil]
        let assigned = try SlotAssignment.slots(for: names, in: slots, resolver: resolver)
        #expect(assigned == [0, 1, AdapterSlots.base, 1, 2, 0])
        #expect(slots.names.count == 3, "each distinct stack is attached once")
        let texts = ["a fine day", "a fine day", "a fine day", "terrible", "terrible", "terrible"]
        let mixed = try classifier.classify(texts, slots: assigned)
        for (index, name) in names.enumerated() {
            let stack = try name.map { $0.isEmpty ? [] : try resolver.resolveStack($0) } ?? resolver.resolve(references: [lora])
            let alone = try TextClassifier(folder: Self.tinyBert, adapters: stack).classify([texts[index]])[0]
            let difference = zip(alone.logits, mixed[index].logits).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5, "text \(index) (\(name ?? "default")): \(difference)")
        }
    }

    /// A stop requested on one job's token stops that job after a step, with a checkpoint and no
    /// registration; a job with its own token runs to the end and registers.
    @Test func aStopTokenStopsOnlyItsOwnRun() throws {
        let folder = TemporaryFolder()
        func job(_ output: String) -> TrainingJob {
            var job = TrainingJob(
                model: Self.tinyBert, data: FixturePaths.path("sentiment/test.jsonl"), output: folder.file(output),
                registryRoot: folder.file("registry"))
            job.lora = LoRAConfig(r: 2, alpha: 4, targets: .names(["query", "value"]), modulesToSave: ["classifier"])
            job.arguments.epochs = 0.2
            job.arguments.batchSize = 16
            job.register = output
            return job
        }
        let stopped = StopToken(), running = StopToken()
        var steps = 0
        let first = try job("first").run(
            stop: stopped, warn: { _ in }, started: { _ in stopped.request() },
            events: { if $0.kind == .step { steps += 1 } })
        #expect(first.stopped && first.registered == nil)
        #expect(steps == 1)
        #expect(FileManager.default.fileExists(atPath: folder.file("first/checkpoint-1")))
        let second = try job("second").run(stop: running, warn: { _ in }, started: { _ in }, events: { _ in })
        #expect(!second.stopped && second.registered?.name == "second")
        #expect(try AdapterStore(root: folder.file("registry")).list().map(\.name) == ["second"])
    }

    /// A run that fails before its first checkpoint leaves no output folder behind.
    @Test func aFailedRunLeavesNoFolder() throws {
        let folder = TemporaryFolder()
        var job = TrainingJob(
            model: Self.tinyBert, data: folder.file("missing.jsonl"), output: folder.file("run"),
            registryRoot: folder.file("registry"))
        job.arguments.epochs = 0.1
        #expect(throws: (any Error).self) { _ = try job.run(stop: StopToken(), warn: { _ in }, started: { _ in }, events: { _ in }) }
        #expect(!FileManager.default.fileExists(atPath: folder.file("run")))
    }

    /// Saving to a folder and the registry at once gives both, and the report says where.
    @Test func aNewAdapterGoesToTheFolderAndTheRegistry() throws {
        let folder = TemporaryFolder()
        let files = try AdapterFiles(folder: Self.peft + "/tiny-bert-lora")
        let updates = try AdapterUpdates(files, base: nil)
        let merged = try AdapterMerge.merge([updates], options: .init(method: .linear, weights: [0.5]))
        let destination = AdapterDestination(output: folder.file("half"), name: "half", tags: ["t"], registryRoot: folder.file("registry"))
        let saved = try destination.save(merged.adapter, labels: merged.labels, base: nil)
        #expect(saved.output == folder.file("half") && saved.registered == .init(name: "half", version: 1))
        #expect(FileManager.default.fileExists(atPath: folder.file("half/adapter_config.json")))
        #expect(throws: (any Error).self) { _ = try destination.save(merged.adapter, labels: nil, base: nil) }
    }
}
