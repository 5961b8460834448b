import Adapters
import ArgumentParser
import Foundation
import Inference
import Models
import Quantization
import Registry
import SafeTensors
import Training
import TrainingCore

/// The main job end to end on the tiny model in `fixtures/`: quantize the base to NF4, train two
/// adapters on two tasks on it (QLoRA), store them compressed, compare and merge them, merge one
/// into the base for deploy, and answer requests that switch between them per line.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the main job on the tiny model in fixtures/.",
        discussion: """
            Quantizes the base (NF4 + double quantization), trains a LoRA adapter for sentiment \
            and one for topic on the 4-bit base (QLoRA), stores both in a registry (compressed), \
            diffs them, merges them into a new adapter, merges the sentiment adapter into the base \
            as a plain model folder, and answers a batch of requests whose lines name different \
            adapters, checking each answer against that adapter run alone. The tiny model has \
            random weights and learns little; --model ~/.cache/tailor/all-MiniLM-L6-v2 runs the \
            same job on a real model.

            Examples:
              tailor demo
              tailor demo --model ~/.cache/tailor/all-MiniLM-L6-v2 --lr 1e-3 --epochs 2 --output /tmp/demo
            """
    )

    @Option(help: "The base model folder (a BERT).") var model = "fixtures/tiny-bert"
    @Option(help: "The fixtures folder with sentiment/ and topic/ data.") var data = "fixtures"
    @Option(help: "Folder for the demo's outputs (replaced).") var output = ".demo-output"
    @Option(help: "Training epochs per adapter.") var epochs: Double = 8
    @Option(help: "Peak learning rate (the tiny random model needs a high one; MiniLM trains at 1e-3).") var lr: Float = 2e-2
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let say: (String) -> Void = { line in if !outputOptions.json { print(line) } }
            let started = Date()
            try prepareOutput()
            var summary: [String: PythonJSONText.Value] = ["model": .string(model)]

            let original = CheckpointSummary(try Checkpoint.open(model))
            // A random model's labels are noise: say so, so nobody reads meaning into them.
            let isTiny = original.elementCount < 1_000_000
            summary["real_model"] = .bool(!isTiny)
            say(isTiny ? "model: \(model), a tiny BERT with random weights: it learns little and its labels mean nothing "
                    + "(Scripts/demo runs on all-MiniLM-L6-v2 when it can fetch it)"
                : "model: \(model) (\(groupedDigits(original.elementCount)) parameters)")
            say("== 1. quantize the base \(model) (\(groupedDigits(original.elementCount)) parameters) to NF4 → \(output)/base-nf4")
            let base = output + "/base-nf4"
            let quantized = try ModelQuantizer.quantize(modelFolder: model, outputFolder: base, options: ModelQuantizer.Options())
            say("   \(quantized.weights.count) Linear weights in 4 bits, \(formatBytes(quantized.bytesBefore)) → "
                + "\(formatBytes(quantized.bytesAfter)); "
                + String(format: "SNR %.1f dB", quantized.overall?.snrDecibels ?? 0))
            summary["nf4_weights"] = .int(quantized.weights.count)

            var accuracies: [String: Double] = [:]
            for task in ["sentiment", "topic"] {
                say("== \(task == "sentiment" ? 2 : 3). train a \(task) adapter on the 4-bit base "
                    + "(QLoRA: LoRA r 8 on query, value; head trained)")
                let report = try train(task: task, base: base)
                accuracies[task] = report.accuracy
                say(String(format: "   %d steps in %.1f s, loss %.3f → %.3f, held-out accuracy %.1f%% (chance 50%%)",
                           report.steps, report.seconds, report.firstLoss, report.lastLoss, report.accuracy * 100))
            }
            summary["accuracy"] = .object(accuracies.mapValues { .double($0) })

            say("== 4. store both in the registry \(output)/registry (compressed, content-addressed)")
            let store = try AdapterStore(root: output + "/registry")
            for task in ["sentiment", "topic"] {
                let version = try store.add(folder: output + "/" + task, name: task, tags: ["demo"], base: base)
                say("   \(version.name)@\(version.version): \(version.tensorCount) tensors, "
                    + "\(formatBytes(version.rawBytes)) → \(formatBytes(version.storedBytes)) stored")
            }
            let files = try ["sentiment", "topic"].map { try AdapterFiles(files: store.files($0), label: $0) }
            let updates = try files.map { try AdapterUpdates($0, base: nil) }

            say("== 5. diff sentiment topic")
            let diff = try AdapterDiff(updates[0], updates[1])
            for role in diff.summary {
                say(String(format: "   %@ (%d modules): cosine %.3f, subspace similarity %.3f",
                           role.kind, role.modules, role.cosine, role.similarity))
            }
            summary["diff_modules"] = .int(diff.modules.count)

            say("== 6. merge sentiment + topic into a new adapter (TIES, density 0.5, sentiment's head) → registry sentiment-topic")
            let merged = try AdapterMerge.merge(updates, options: .init(method: .ties, weights: [0.5, 0.5], density: 0.5, headFrom: 0))
            let mergedFolder = output + "/sentiment-topic"
            try PEFTAdapterFolder.save(merged.adapter, to: mergedFolder, labels: merged.labels)
            let mergedVersion = try store.add(folder: mergedFolder, name: "sentiment-topic", base: base)
            let mergedAccuracy = try evaluate(adapters: [(AdapterStack.Member(reference: "sentiment-topic"),
                                                          AdapterFiles(folder: mergedFolder))],
                                              base: base, task: "sentiment")
            say(String(format: "   rank %d over %d modules, stored as %@@%d; its sentiment accuracy %.1f%% (sentiment alone %.1f%%)",
                       merged.adapter.config.r, merged.adapter.config.targetNames.count, mergedVersion.name, mergedVersion.version,
                       mergedAccuracy * 100, (accuracies["sentiment"] ?? 0) * 100))
            summary["merged_accuracy"] = .double(mergedAccuracy)

            say("== 7. merge sentiment into the base for deploy → \(output)/deploy (plain model folder, f32)")
            let deploy = try DeployMerge.write([(AdapterStack.Member(reference: "sentiment"), files[0])], base: base,
                                               output: output + "/deploy", dtype: "f32")
            say(String(format: "   %d tensors; transformers loads it without PEFT; logits vs base + adapter: max difference %.2g",
                       deploy.tensors, deploy.change.maxChange))
            summary["deploy_max_logit_difference"] = .double(Double(deploy.change.maxChange))

            say("== 8. serve: one base, both adapters attached from the registry, requests switching per line")
            let served = try serve(base: base, files: files)
            for (text, adapter, label) in served.answers {
                say("   [\(adapter.padding(toLength: 9, withPad: " ", startingAt: 0))] "
                    + "\(label.padding(toLength: 9, withPad: " ", startingAt: 0)) \(text)")
            }
            say(String(format: "   one mixed batch equals each adapter run alone: max logit difference %.2g; each request "
                       + "carries its slot, so no weight moves to switch", served.maxDifference))
            summary["serve_max_difference"] = .double(Double(served.maxDifference))
            summary["answers"] = .int(served.answers.count)
            let seconds = Date().timeIntervalSince(started)
            say(String(format: "done in %.1f s; everything is in %@", seconds, output))
            summary["seconds"] = .double(seconds)
            guard served.maxDifference < 1e-4, deploy.change.maxChange < 1e-3 else {
                throw UsageProblem(description: "demo check failed: serving difference \(served.maxDifference), "
                                   + "deploy difference \(deploy.change.maxChange)")
            }
            if outputOptions.json { outputOptions.emit(.object(summary)) }
        }
    }

    /// The marker file that makes a folder a demo output, which a later demo may replace.
    static let marker = ".tailor-demo"

    /// Empties `--output` for this run. Only a folder an earlier demo made (it holds the marker)
    /// or an empty one is replaced: `--output ~` must never delete a home folder.
    func prepareOutput() throws {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) {
            guard isFolder.boolValue, entries.isEmpty || entries.contains(Self.marker) else {
                throw UsageProblem(description: "\(output): exists and is not an earlier demo's output; choose another --output")
            }
            try FileManager.default.removeItem(atPath: output)
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: output + "/" + Self.marker, contents: Data("made by tailor demo\n".utf8))
    }

    struct TrainingSummary { var steps: Int; var seconds: Double; var firstLoss: Double; var lastLoss: Double; var accuracy: Double }

    func train(task: String, base: String) throws -> TrainingSummary {
        let trainSet = try Dataset.load(data + "/\(task)/train.jsonl", task: .classification)
        let lora = LoRAConfig(r: 8, alpha: 16, targets: .names(["query", "value"]), modulesToSave: ["classifier"], taskType: "SEQ_CLS",
                              baseModel: base)
        let taskModel = try TaskModel(folder: base, task: .classification, method: .lora, loraConfig: lora, labels: trainSet.labels,
                                      maxLength: 64, seed: 42)
        var arguments = TrainingArguments()
        arguments.epochs = epochs
        arguments.batchSize = 16
        arguments.learningRate = lr
        arguments.loggingSteps = 50
        let trainer = try Trainer(model: taskModel, train: trainSet, validation: nil, arguments: arguments, output: output + "/" + task)
        let start = Date()
        var losses: [Double] = []
        let progress = TrainingProgress(quiet: outputOptions.json)
        try trainer.run { event in
            if let loss = event.values["loss"] { losses.append(loss) }
            progress.show(event)
        }
        let accuracy = try evaluate(adapters: [(AdapterStack.Member(reference: task), AdapterFiles(folder: output + "/" + task))],
                                    base: base, task: task)
        return TrainingSummary(steps: trainer.totalSteps, seconds: Date().timeIntervalSince(start), firstLoss: losses.first ?? .nan,
                               lastLoss: losses.last ?? .nan, accuracy: accuracy)
    }

    func evaluate(adapters: [(member: AdapterStack.Member, files: AdapterFiles)], base: String, task: String) throws -> Double {
        let labels = adapters.lazy.compactMap(\.files.labels).first
        let test = try Dataset.load(data + "/\(task)/test.jsonl", task: .classification, knownLabels: labels)
        let model = try TaskModel(folder: base, task: .classification, method: .lora, loraConfig: nil, labels: labels, maxLength: 64,
                                  seed: 0, adapters: adapters)
        return Evaluation.evaluate(model, on: test, batchSize: 32)["accuracy"] ?? 0
    }

    func serve(base: String, files: [AdapterFiles]) throws
        -> (answers: [(String, String, String)], maxDifference: Float) {
        let classifier = try TextClassifier(folder: base, switching: true)
        let slots = classifier.slots!
        for (name, file) in zip(["sentiment", "topic"], files) { try slots.attach(name, [(AdapterStack.Member(reference: name), file)]) }
        let requests: [(String, String)] = [
            ("The battery was superb, and the screen was lovely too.", "sentiment"),
            ("The battery was superb, and the screen was lovely too.", "topic"),
            ("Never again. The room was cramped.", "sentiment"), ("Never again. The room was cramped.", "topic"),
            ("I loved the café. Worth every penny.", "topic"), ("The app was not worth it.", "sentiment"),
        ]
        let slotOf = requests.map { slots.slot(named: $0.1)! }
        let mixed = try classifier.classify(requests.map(\.0), slots: slotOf)
        var worst: Float = 0
        for (index, request) in requests.enumerated() {
            let alone = try classifier.classify([request.0], slots: [slotOf[index]])[0]
            worst = max(worst, zip(alone.logits, mixed[index].logits).map { abs($0 - $1) }.max() ?? 0)
        }
        return (zip(requests, mixed).map { ($0.0, $0.1, $1.label) }, worst)
    }
}
