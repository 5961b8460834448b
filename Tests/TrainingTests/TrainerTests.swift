import Foundation
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Training

/// The Trainer on the tiny BERT and the sentiment data: resume equals an uninterrupted run,
/// checkpoints are pruned, early stopping stops, a NaN loss stops with the reason.
@Suite(.serialized) struct TrainerTests {
    static func dataset(_ count: Int) throws -> Dataset {
        var data = try Dataset.load(FixturePaths.path("sentiment/train.jsonl"), task: .classification)
        data.examples = Array(data.examples.prefix(count))
        return data
    }

    static func trainer(output: String, epochs: Double = 2, configure: (inout TrainingArguments) -> Void = { _ in }) throws -> Trainer {
        let data = try dataset(48)
        let lora = LoRAConfig(r: 4, alpha: 8, targets: .names(["query", "value"]), dropout: 0.1, modulesToSave: ["classifier"])
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-bert"), task: .classification, method: .lora, loraConfig: lora,
            labels: data.labels, maxLength: 32, seed: 3)
        var arguments = TrainingArguments()
        arguments.epochs = epochs
        arguments.batchSize = 8
        arguments.gradientAccumulation = 2
        arguments.learningRate = 1e-3
        arguments.loggingSteps = 1
        arguments.warmupSteps = 2
        configure(&arguments)
        let validation = try dataset(64)
        return try Trainer(
            model: model, train: data,
            validation: Dataset(
                examples: Array(validation.examples.suffix(16)), labels: data.labels,
                path: "validation"), arguments: arguments, output: output)
    }

    static func losses(_ folder: String) throws -> [Double] {
        try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    @Test func resumeReproducesTheUninterruptedRun() throws {
        // Throughput counts what each run trained: 48 examples × 2 epochs, then what remained.
        func trainedSamples(_ done: [String: Double]) -> Int {
            Int(((done["train_samples_per_second"] ?? 0) * (done["train_runtime"] ?? 0)).rounded())
        }
        let straight = TemporaryFolder()
        var done: [String: Double] = [:]
        try Self.trainer(output: straight.path) { $0.saveSteps = 2 }.run { if $0.kind == .done { done = $0.values } }
        let expected = try Self.losses(straight.path)
        #expect(expected.count == 6)
        #expect(trainedSamples(done) == 96 && (done["train_tokens_per_second"] ?? 0) > 0, "\(done)")

        let interrupted = TemporaryFolder()
        var events = 0
        let first = try Self.trainer(output: interrupted.path) { $0.saveSteps = 2 }
        try first.run { event in
            events += 1
            if event.kind == .checkpoint, event.step == 2 { first.stop.request() }
        }
        #expect(first.stopped)
        let resumed = try Self.trainer(output: interrupted.path) { $0.saveSteps = 2 }
        #expect(try resumed.resume())
        try resumed.run { if $0.kind == .done { done = $0.values } }
        #expect(trainedSamples(done) == 96 - 2 * 2 * 8, "two steps of two micro-batches of 8 came before the stop")
        let losses = try Self.losses(interrupted.path)
        #expect(losses.count == expected.count)
        for (a, b) in zip(losses, expected) { #expect(abs(a - b) < 1e-6, "\(losses) vs \(expected)") }
        let straightAdapter = try Data(contentsOf: URL(fileURLWithPath: straight.file("adapter_model.safetensors")))
        let resumedAdapter = try Data(contentsOf: URL(fileURLWithPath: interrupted.file("adapter_model.safetensors")))
        #expect(straightAdapter == resumedAdapter, "the same final adapter, byte for byte")
    }

    @Test func checkpointsArePrunedKeepingTheBest() throws {
        let folder = TemporaryFolder()
        let trainer = try Self.trainer(output: folder.path, epochs: 3) {
            $0.evalStrategy = .steps
            $0.evalSteps = 1
            $0.saveTotalLimit = 2
        }
        try trainer.run { _ in }
        let checkpoints = trainer.checkpoints()
        #expect(checkpoints.count <= 2)
        if let best = trainer.state.bestCheckpoint { #expect(checkpoints.contains(best)) }
        #expect(FileManager.default.fileExists(atPath: folder.file("report.html")))
        #expect(FileManager.default.fileExists(atPath: folder.file("adapter_labels.json")))
    }

    @Test func earlyStoppingStopsAfterPatience() throws {
        let folder = TemporaryFolder()
        var message: String?
        let trainer = try Self.trainer(output: folder.path, epochs: 20) {
            $0.evalStrategy = .steps
            $0.evalSteps = 1
            $0.earlyStoppingPatience = 2
            $0.earlyStoppingThreshold = 10  // nothing improves by 10: stop after the third evaluation
            $0.learningRate = 1e-6
        }
        try trainer.run { event in if event.kind == .done, let text = event.message { message = text } }
        #expect(trainer.state.globalStep == 3)
        #expect(message?.contains("early stopping") == true)
    }

    @Test func aNaNLossStopsWithTheReason() throws {
        let folder = TemporaryFolder()
        let trainer = try Self.trainer(output: folder.path) {
            $0.learningRate = .infinity
            $0.maxGradNorm = 0
        }
        #expect {
            try trainer.run { _ in }
        } throws: { error in
            "\(error)".contains("loss became") && "\(error)".contains("lower the learning rate")
        }
    }
}
