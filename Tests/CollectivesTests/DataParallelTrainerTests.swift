import Collectives
import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Training

/// The Trainer over ranks that are threads of this process (``ThreadGroup``): the same losses,
/// evaluations and adapter as one process with the same global batch; only rank 0 writes; a stop
/// asked of one rank stops all, and rank 0's checkpoint resumes every rank.
@Suite(.serialized) struct DataParallelTrainerTests {
    /// The tiny BERT without dropout (which draws different masks on different ranks), in `folder`.
    static func model(in folder: TemporaryFolder) throws -> String {
        let source = FixturePaths.path("tiny-bert"), target = folder.file("tiny-bert")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let data = try Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        config["hidden_dropout_prob"] = 0.0
        config["attention_probs_dropout_prob"] = 0.0
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: target + "/config.json"))
        for file in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: target + "/" + file)
        }
        return target
    }

    struct Run {
        var losses: [Double] = []
        var evaluations: [[String: Double]] = []
        var done: [String: Double] = [:]
        var stopped = false
    }

    static func trainer(
        model folder: String, output: String, communicator: any Communicator, batchSize: Int, accumulation: Int
    ) throws -> Trainer {
        var data = try Dataset.load(FixturePaths.path("sentiment/train.jsonl"), task: .classification)
        let validation = Dataset(examples: Array(data.examples[100..<113]), labels: data.labels, path: "validation")
        data.examples = Array(data.examples.prefix(30))
        let lora = LoRAConfig(r: 4, alpha: 8, targets: .names(["query", "value"]), modulesToSave: ["classifier"])
        let model = try TaskModel(
            folder: folder, task: .classification, method: .lora, loraConfig: lora, labels: data.labels, maxLength: 24, seed: 3)
        var arguments = TrainingArguments()
        arguments.epochs = 2
        arguments.batchSize = batchSize
        arguments.gradientAccumulation = accumulation
        arguments.learningRate = 1e-2
        arguments.loggingSteps = 1
        arguments.evalStrategy = .steps
        arguments.evalSteps = 3
        arguments.metric = "f1"
        return try Trainer(
            model: model, train: data, validation: validation, arguments: arguments, output: output, communicator: communicator)
    }

    static func run(_ trainer: Trainer, stopAtStep: Int? = nil) throws -> Run {
        var run = Run()
        try trainer.run { event in
            switch event.kind {
            case .step:
                run.losses.append(event.values["loss"]!)
                if event.step == stopAtStep { trainer.stop.request() }
            case .eval: run.evaluations.append(event.values)
            case .done: run.done = event.values
            case .checkpoint: break
            }
        }
        run.stopped = trainer.stopped
        return run
    }

    static func adapter(_ folder: String) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(path: folder + "/adapter_model.safetensors")
        return try Dictionary(uniqueKeysWithValues: file.header.tensors.map { ($0.name, try file.view(of: $0).floats()) })
    }

    static func expectSameAdapter(_ ours: [String: [Float]], _ reference: [String: [Float]]) {
        #expect(ours.keys.sorted() == reference.keys.sorted())
        for (name, values) in reference {
            let scale = values.map { abs($0) }.max() ?? 0
            let worst = zip(ours[name] ?? [], values).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * max(scale, 1e-3), "\(name): differs by \(worst) of \(scale)")
        }
    }

    static func expectSameLosses(_ ours: [Double], _ reference: [Double]) {
        #expect(ours.count == reference.count)
        for (step, (a, b)) in zip(ours, reference).enumerated() {
            #expect(abs(a - b) <= 1e-5 * abs(b), "step \(step + 1): \(a) vs \(b)")
        }
    }

    @Test(arguments: [(ranks: 2, batchSize: 6, accumulation: 2), (ranks: 3, batchSize: 2, accumulation: 1)])
    func ranksTrainAsOneProcessWithTheGlobalBatch(ranks: Int, batchSize: Int, accumulation: Int) throws {
        let single = TemporaryFolder()
        let model = try Self.model(in: single)
        let reference = try Self.run(
            Self.trainer(
                model: model, output: single.file("run"), communicator: SingleProcess(), batchSize: batchSize, accumulation: accumulation))
        let folder = TemporaryFolder()
        let paths = (0..<ranks).map { folder.file("rank\($0)") }
        let runs = try ThreadGroup(size: ranks).run { member in
            try Self.run(
                Self.trainer(
                    model: model, output: paths[member.rank], communicator: member, batchSize: batchSize, accumulation: accumulation))
        }.map { try $0.get() }
        for (rank, run) in runs.enumerated() {
            Self.expectSameLosses(run.losses, reference.losses)
            // Evaluation is split too, and its totals added up: the metrics are the same, as are
            // the decisions taken from them.
            #expect(run.evaluations.count == reference.evaluations.count && !run.evaluations.isEmpty)
            for (ours, theirs) in zip(run.evaluations, reference.evaluations) {
                #expect(ours.keys.sorted() == theirs.keys.sorted())
                for (key, value) in theirs { #expect(abs(ours[key]! - value) <= 1e-6 * max(abs(value), 1), "rank \(rank) \(key)") }
            }
            #expect(run.done["ranks"] == Double(ranks) && run.done["allreduce_bytes_per_step"]! > 0)
        }
        Self.expectSameAdapter(try Self.adapter(paths[0]), try Self.adapter(single.file("run")))
        // Rank 0 writes what one process writes; the others write nothing at all.
        let written = try FileManager.default.contentsOfDirectory(atPath: paths[0]).sorted()
        #expect(written == (try FileManager.default.contentsOfDirectory(atPath: single.file("run")).sorted()))
        #expect(
            try String(contentsOfFile: paths[0] + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count
                == (try String(contentsOfFile: single.file("run") + "/metrics.jsonl", encoding: .utf8)).split(separator: "\n").count)
        for path in paths.dropFirst() { #expect(!FileManager.default.fileExists(atPath: path), "\(path) was written") }
    }

    @Test func aStopAskedOfOneRankStopsAllAndRankZerosCheckpointResumesEvery() throws {
        let single = TemporaryFolder()
        let model = try Self.model(in: single)
        let reference = try Self.run(
            Self.trainer(model: model, output: single.file("run"), communicator: SingleProcess(), batchSize: 6, accumulation: 1))
        let folder = TemporaryFolder()
        let paths = [folder.file("rank0"), folder.file("rank1")]
        let first = try ThreadGroup(size: 2).run { member in
            try Self.run(
                Self.trainer(model: model, output: paths[member.rank], communicator: member, batchSize: 6, accumulation: 1),
                stopAtStep: member.rank == 1 ? 4 : nil)
        }.map { try $0.get() }
        // The ranks agree on stopping in the step's gradient exchange: a request made while step 4
        // is reported stops every rank after step 5.
        #expect(first.allSatisfy { $0.stopped && $0.losses.count == 5 }, "\(first.map(\.losses.count))")
        #expect(FileManager.default.fileExists(atPath: paths[0] + "/checkpoint-5"))
        // Rank 1 has no checkpoint of its own: rank 0 reads it and sends it.
        let second = try ThreadGroup(size: 2).run { member in
            let trainer = try Self.trainer(model: model, output: paths[member.rank], communicator: member, batchSize: 6, accumulation: 1)
            #expect(try trainer.resume())
            return try Self.run(trainer)
        }.map { try $0.get() }
        for run in second { Self.expectSameLosses(first[0].losses + run.losses, reference.losses) }
        Self.expectSameAdapter(try Self.adapter(paths[0]), try Self.adapter(single.file("run")))
        #expect(!FileManager.default.fileExists(atPath: paths[1]))
    }
}
