import Adapters
import Diagnostics
import Foundation
import Inference
import Models
import Quantization
import Registry
import SafeTensors
import Training

/// The main job end to end, as `tailor demo` runs it: quantize a BERT base to NF4, train a
/// sentiment and a topic adapter on it (QLoRA), store both compressed in a registry, diff them,
/// merge them into a new adapter, merge one into the base for deploy, and answer requests whose
/// lines name different adapters, each checked against that adapter run alone.
public struct DemoPipeline {
    public var model: String
    /// The folder holding sentiment/ and topic/ (train.jsonl, test.jsonl each).
    public var data: String
    /// The folder for every output; replaced only when empty or made by an earlier demo.
    public var output: String
    public var epochs: Double
    public var learningRate: Float

    /// What the demo measured, as `--json` prints it.
    public struct Report: Codable, Sendable {
        public var model: String
        /// false for the tiny random model, whose labels mean nothing.
        public var realModel: Bool
        public var nf4Weights: Int
        public var accuracy: [String: Double]
        public var diffModules: Int
        public var mergedAccuracy: Double
        public var deployMaxLogitDifference: Double
        public var serveMaxDifference: Double
        public var answers: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case model, realModel = "real_model", nf4Weights = "nf4_weights", accuracy, diffModules = "diff_modules"
            case mergedAccuracy = "merged_accuracy", deployMaxLogitDifference = "deploy_max_logit_difference"
            case serveMaxDifference = "serve_max_difference", answers, seconds
        }
    }

    /// The marker file that makes a folder a demo output, which a later demo may replace.
    public static let marker = ".tailor-demo"
    static let tasks = ["sentiment", "topic"]

    public init(model: String, data: String, output: String, epochs: Double, learningRate: Float) {
        (self.model, self.data, self.output, self.epochs, self.learningRate) = (model, data, output, epochs, learningRate)
    }

    /// Runs every step; `say` gets the narrative lines, `training` each trainer event (for a
    /// progress display). Throws when a check fails: a mixed batch must equal each adapter alone,
    /// the deployed folder must equal base + adapter.
    public func run(say: (String) -> Void, training: (Trainer.Event) -> Void) throws -> Report {
        let started = Date()
        try prepareOutput()
        let original = CheckpointSummary(try Checkpoint.open(model))
        let isTiny = original.elementCount < 1_000_000
        say(
            isTiny
                ? "model: \(model), a tiny BERT with random weights: it learns little and its labels mean nothing "
                    + "(Scripts/demo runs on all-MiniLM-L6-v2 when it can fetch it)"
                : "model: \(model) (\(groupedDigits(original.elementCount)) parameters)")
        say("== 1. quantize the base \(model) (\(groupedDigits(original.elementCount)) parameters) to NF4 → \(output)/base-nf4")
        let base = output + "/base-nf4"
        let quantized = try ModelQuantizer.quantize(modelFolder: model, outputFolder: base, options: ModelQuantizer.Options())
        say(
            "   \(quantized.weights.count) Linear weights in 4 bits, \(formatBytes(quantized.bytesBefore)) → "
                + "\(formatBytes(quantized.bytesAfter)); " + String(format: "SNR %.1f dB", quantized.overall?.snrDecibels ?? 0))

        var accuracies: [String: Double] = [:]
        for (index, task) in Self.tasks.enumerated() {
            say("== \(index + 2). train a \(task) adapter on the 4-bit base (QLoRA: LoRA r 8 on query, value; head trained)")
            let report = try train(task: task, base: base, events: training)
            accuracies[task] = report.accuracy
            say(
                String(
                    format: "   %d steps in %.1f s, loss %.3f → %.3f, held-out accuracy %.1f%% (chance 50%%)",
                    report.steps, report.seconds, report.firstLoss, report.lastLoss, report.accuracy * 100))
        }

        say("== 4. store both in the registry \(output)/registry (compressed, content-addressed)")
        let store = try AdapterStore(root: output + "/registry")
        for task in Self.tasks {
            let version = try store.add(folder: output + "/" + task, name: task, tags: ["demo"], base: base)
            say(
                "   \(version.name)@\(version.version): \(version.tensorCount) tensors, "
                    + "\(formatBytes(version.rawBytes)) → \(formatBytes(version.storedBytes)) stored")
        }
        let files = try Self.tasks.map { try AdapterFiles(files: store.files($0), label: $0) }
        let updates = try files.map { try AdapterUpdates($0, base: nil) }

        say("== 5. diff sentiment topic")
        let diff = try AdapterDiff(updates[0], updates[1])
        for role in diff.summary {
            say(
                String(
                    format: "   %@ (%d modules): cosine %.3f, subspace similarity %.3f", role.kind, role.modules, role.cosine,
                    role.similarity))
        }

        say("== 6. merge sentiment + topic into a new adapter (TIES, density 0.5, sentiment's head) → registry sentiment-topic")
        let merged = try AdapterMerge.merge(updates, options: .init(method: .ties, weights: [0.5, 0.5], density: 0.5, headFrom: 0))
        let mergedFolder = output + "/sentiment-topic"
        try PEFTAdapterFolder.save(merged.adapter, to: mergedFolder, labels: merged.labels)
        let mergedVersion = try store.add(folder: mergedFolder, name: "sentiment-topic", base: base)
        let mergedAccuracy = try evaluate(
            [(AdapterStack.Member(reference: "sentiment-topic"), AdapterFiles(folder: mergedFolder))],
            base: base, task: "sentiment")
        say(
            String(
                format: "   rank %d over %d modules, stored as %@@%d; its sentiment accuracy %.1f%% (sentiment alone %.1f%%)",
                merged.adapter.config.r, merged.adapter.config.targetNames.count, mergedVersion.name, mergedVersion.version,
                mergedAccuracy * 100, (accuracies["sentiment"] ?? 0) * 100))

        say("== 7. merge sentiment into the base for deploy → \(output)/deploy (plain model folder, f32)")
        let deploy = try DeployMerge.write(
            [(AdapterStack.Member(reference: "sentiment"), files[0])], base: base,
            output: output + "/deploy", dtype: "f32")
        say(
            String(
                format: "   %d tensors; transformers loads it without PEFT; logits vs base + adapter: max difference %.2g",
                deploy.tensors, deploy.change.maxChange))

        say("== 8. serve: one base, both adapters attached from the registry, requests switching per line")
        let served = try serve(base: base, files: files)
        for (text, adapter, label) in served.answers {
            say(
                "   [\(adapter.padding(toLength: 9, withPad: " ", startingAt: 0))] "
                    + "\(label.padding(toLength: 9, withPad: " ", startingAt: 0)) \(text)")
        }
        say(
            String(
                format: "   one mixed batch equals each adapter run alone: max logit difference %.2g; each request "
                    + "carries its slot, so no weight moves to switch", served.maxDifference))
        let seconds = Date().timeIntervalSince(started)
        say(String(format: "done in %.1f s; everything is in %@", seconds, output))
        guard served.maxDifference < 1e-4, deploy.change.maxChange < 1e-3 else {
            throw WorkflowError(
                file: output,
                "demo check failed: serving difference \(served.maxDifference), "
                    + "deploy difference \(deploy.change.maxChange)")
        }
        return Report(
            model: model, realModel: !isTiny, nf4Weights: quantized.weights.count, accuracy: accuracies,
            diffModules: diff.modules.count, mergedAccuracy: mergedAccuracy,
            deployMaxLogitDifference: Double(deploy.change.maxChange), serveMaxDifference: Double(served.maxDifference),
            answers: served.answers.count, seconds: seconds)
    }

    /// Empties the output folder for this run. Only a folder an earlier demo made (it holds the
    /// marker) or an empty one is replaced: an output of `~` must never delete a home folder.
    func prepareOutput() throws {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) {
            guard isFolder.boolValue, entries.isEmpty || entries.contains(Self.marker) else {
                throw WorkflowError(file: output, "exists and is not an earlier demo's output; choose another output folder")
            }
            try FileManager.default.removeItem(atPath: output)
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: output + "/" + Self.marker, contents: Data("made by tailor demo\n".utf8)) else {
            throw WorkflowError(file: output, "cannot write the demo marker file")
        }
    }

    struct TrainingSummary {
        var steps: Int
        var seconds: Double
        var firstLoss: Double
        var lastLoss: Double
        var accuracy: Double
    }

    func train(task: String, base: String, events: (Trainer.Event) -> Void) throws -> TrainingSummary {
        let trainSet = try Dataset.load(data + "/\(task)/train.jsonl", task: .classification)
        // The family's default targets (BERT: query, value); the head is trained in full.
        let lora = LoRAConfig(
            r: 8, alpha: 16, targets: .names(try ModelFamilies.family(ofFolder: base).defaultLoRATargets), modulesToSave: ["classifier"],
            taskType: ModelHead.sequenceClassification.peftTaskType, baseModel: base)
        let taskModel = try TaskModel(
            folder: base, task: .classification, method: .lora, loraConfig: lora, labels: trainSet.labels,
            maxLength: 64, seed: 42)
        var arguments = TrainingArguments()
        arguments.epochs = epochs
        arguments.batchSize = 16
        arguments.learningRate = learningRate
        arguments.loggingSteps = 50
        let trainer = try Trainer(model: taskModel, train: trainSet, validation: nil, arguments: arguments, output: output + "/" + task)
        let start = Date()
        var losses: [Double] = []
        try trainer.run { event in
            if let loss = event.values["loss"] { losses.append(loss) }
            events(event)
        }
        let accuracy = try evaluate(
            [(AdapterStack.Member(reference: task), AdapterFiles(folder: output + "/" + task))], base: base,
            task: task)
        return TrainingSummary(
            steps: trainer.totalSteps, seconds: Date().timeIntervalSince(start), firstLoss: losses.first ?? .nan,
            lastLoss: losses.last ?? .nan, accuracy: accuracy)
    }

    func evaluate(_ adapters: [(member: AdapterStack.Member, files: AdapterFiles)], base: String, task: String) throws -> Double {
        let labels = adapters.lazy.compactMap(\.files.labels).first
        let test = try Dataset.load(data + "/\(task)/test.jsonl", task: .classification, knownLabels: labels)
        let model = try TaskModel(
            folder: base, task: .classification, method: .lora, loraConfig: nil, labels: labels, maxLength: 64,
            seed: 0, adapters: adapters)
        return Evaluation.evaluate(model, on: test, batchSize: 32)["accuracy"] ?? 0
    }

    /// Both adapters attached to one base; a batch whose texts name different adapters, and
    /// each text alone with its adapter, to compare.
    func serve(
        base: String, files: [AdapterFiles]
    ) throws
        -> (answers: [(String, String, String)], maxDifference: Float)
    {
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
