import Collectives
import Foundation
import SafeTensors
import TrainingCore

/// The training loop: batches, forward/backward, gradient accumulation and clipping, AdamW with
/// a warmup schedule, evaluation, checkpoints, early stopping, resume, logs and a report.
///
/// With a ``Communicator`` of several ranks it trains data-parallel: every rank holds the same
/// model, takes its share of each batch, and the gradients are summed over the ranks before one
/// identical optimizer step on each (see DataParallel.swift); rank 0 alone writes files.
public final class Trainer {
    /// One line of progress: a logged step or an evaluation.
    public struct Event: Sendable {
        public enum Kind: String, Sendable { case step, eval, checkpoint, done }
        public var kind: Kind
        public var step: Int
        public var totalSteps: Int
        public var epoch: Double
        public var values: [String: Double]
        public var message: String?
    }

    public let model: TaskModel
    public let train: Dataset
    public let validation: Dataset?
    public let arguments: TrainingArguments
    public let output: String
    public internal(set) var state = TrainerState()
    /// Requested (from any thread, a signal handler's included): this trainer stops after the
    /// current step with a checkpoint saved.
    public let stop: StopToken
    /// Whether the last `run` ended on a stop request rather than at its last step.
    public private(set) var stopped = false

    /// The ranks training together (this process alone by default).
    public let communicator: any Communicator
    let optimizer: AdamW
    private let schedule: LearningRateSchedule
    private let batchesPerEpoch: Int
    public let totalSteps: Int
    private let metricsLog: String

    public init(
        model: TaskModel, train: Dataset, validation: Dataset?, arguments: TrainingArguments, output: String,
        stop: StopToken = StopToken(), communicator: any Communicator = SingleProcess()
    ) throws {
        guard !model.trainable.isEmpty else {
            throw TrainingError(file: model.folder, "nothing to train: the method left no trainable parameter")
        }
        guard train.examples.count >= 2 else {
            throw TrainingError(file: train.path, "\(train.examples.count) training example; training needs at least 2")
        }
        if model.task.hasLabels, train.labels.count < 2 {
            throw TrainingError(
                file: train.path,
                "every example has the label \"\(train.labels.first ?? "")\"; "
                    + "a classifier needs at least 2 labels")
        }
        try model.checkTokenIds(of: train)
        if let validation { try model.checkTokenIds(of: validation) }
        self.model = model
        model.model.gradientCheckpointing = arguments.gradientCheckpointing
        model.model.computeDType = arguments.computeDType
        self.train = train
        self.validation = validation
        self.arguments = arguments
        self.output = output
        self.stop = stop
        self.communicator = communicator
        batchesPerEpoch = (train.examples.count + arguments.batchSize - 1) / arguments.batchSize
        let stepsPerEpoch = max(1, (batchesPerEpoch + arguments.gradientAccumulation - 1) / arguments.gradientAccumulation)
        totalSteps = max(1, Int((Double(stepsPerEpoch) * arguments.epochs).rounded(.up)))
        let warmup = arguments.warmupSteps ?? Int((Double(totalSteps) * arguments.warmupRatio).rounded(.up))
        schedule = LearningRateSchedule(kind: arguments.scheduler, warmupSteps: warmup, totalSteps: totalSteps)
        optimizer = AdamW(parameters: model.trainable.map(\.1), learningRate: arguments.learningRate, weightDecay: arguments.weightDecay)
        metricsLog = output + "/metrics.jsonl"
        if writesFiles { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) }
    }

    var metricName: String { arguments.metric ?? model.task.defaultMetric }

    /// Continues from the latest `checkpoint-N` in the output folder (weights, optimizer, position).
    /// Of several ranks, rank 0 reads it and the others receive it when the run starts.
    public func resume() throws -> Bool {
        var found = false
        if communicator.isRoot, let latest = checkpoints().last {
            let folder = output + "/" + latest
            let saved = try TrainerState.read(from: folder)
            try check(saved, file: folder + "/" + TrainerState.fileName)
            state = saved
            try loadWeights(from: folder)
            try TrainerState.readOptimizer(optimizer, names: model.trainable.map(\.0), expectedStep: saved.globalStep, from: folder)
            found = true
        }
        return communicator.broadcast([found ? 1 : 0], from: 0) == [1]
    }

    /// Whether this rank writes files (checkpoints, logs, the result): rank 0 only.
    var writesFiles: Bool { communicator.isRoot }

    /// Micro-batches (forward passes) in the whole run.
    var totalMicroSteps: Int { Int((Double(batchesPerEpoch) * arguments.epochs).rounded(.up)) }

    /// Refuses a trainer state that does not describe a point of this run: every field is used
    /// as an index or a count, and a hand-edited or foreign checkpoint must fail here, not trap.
    func check(_ saved: TrainerState, file: String) throws {
        func invalid(_ why: String) -> TrainingError {
            TrainingError(
                file: file,
                "\(why); the checkpoint does not belong to this run "
                    + "(same data, batch size, gradient accumulation and epochs)")
        }
        guard (0...totalMicroSteps).contains(saved.microStep) else {
            throw invalid("micro_step \(saved.microStep) is outside 0…\(totalMicroSteps)")
        }
        guard (0...totalSteps).contains(saved.globalStep), saved.globalStep <= saved.microStep else {
            throw invalid("global_step \(saved.globalStep) is outside 0…\(min(totalSteps, saved.microStep))")
        }
        guard saved.epoch == saved.microStep / batchesPerEpoch else {
            throw invalid("epoch \(saved.epoch) does not match micro_step \(saved.microStep)")
        }
        guard saved.evaluationsWithoutImprovement >= 0 else { throw invalid("a negative evaluation count") }
        if let best = saved.bestMetric, !best.isFinite { throw invalid("best metric \(best) is not finite") }
        if let best = saved.bestCheckpoint {
            let step = best.hasPrefix("checkpoint-") ? Int(best.dropFirst("checkpoint-".count)) : nil
            guard let step, step >= 0, step <= saved.globalStep else {
                throw invalid("best checkpoint \"\(best)\" is not a checkpoint of this run")
            }
        }
    }

    /// Runs to the end (or to early stopping or a stop request) and saves the result in `output`.
    public func run(_ report: (Event) -> Void) throws {
        stopped = false
        let totalMicro = totalMicroSteps
        var windowLoss = 0.0, windowCount = 0
        // Throughput of this run alone: a resumed run counts from where it resumed.
        let started = DispatchTime.now().uptimeNanoseconds
        var trainedSamples = 0, trainedTokens = 0
        let distributed = communicator.size > 1
        var exchange = GradientExchange()
        if distributed { try synchronizeFromRoot() }
        let firstStep = state.globalStep
        training: while state.microStep < totalMicro {
            let epoch = state.microStep / batchesPerEpoch
            let order = epochOrder(epoch)
            let index = state.microStep % batchesPerEpoch
            let slice = order[(index * arguments.batchSize)..<min(order.count, (index + 1) * arguments.batchSize)]
            trainedSamples += slice.count
            let (stepLoss, tokens) = try trainMicroBatch(slice, epoch: epoch, exchange: &exchange)
            trainedTokens += tokens
            state.microStep += 1
            state.epoch = state.microStep / batchesPerEpoch
            windowLoss += stepLoss
            windowCount += 1
            let boundary =
                state.microStep % arguments.gradientAccumulation == 0 || state.microStep % batchesPerEpoch == 0
                || state.microStep == totalMicro
            guard boundary else { continue }
            // One all-reduce of every gradient (and of whether any rank was asked to stop), so the
            // clipping and the update below are the same on every rank.
            let stopRequested =
                distributed ? exchange.sumGradients(optimizer.parameters, stop: stop.isRequested, over: communicator) : false
            var norm: Float = 0
            if arguments.maxGradNorm > 0 { norm = clipGradientNorm(optimizer.parameters, maxNorm: arguments.maxGradNorm) }
            let rate = arguments.learningRate * schedule.factor(at: state.globalStep)
            optimizer.learningRate = rate
            optimizer.update()
            optimizer.zeroGrad()
            state.globalStep += 1
            let epochProgress = Double(state.microStep) / Double(batchesPerEpoch)
            if state.globalStep % arguments.loggingSteps == 0 || state.globalStep == 1 || state.globalStep == totalSteps {
                let values = ["loss": windowLoss / Double(windowCount), "learning_rate": Double(rate), "grad_norm": Double(norm)]
                log(.init(step: state.globalStep, epoch: epochProgress, values: values))
                report(Event(kind: .step, step: state.globalStep, totalSteps: totalSteps, epoch: epochProgress, values: values))
                windowLoss = 0
                windowCount = 0
            }
            let endOfEpoch = state.microStep % batchesPerEpoch == 0
            let evaluate =
                validation != nil
                && ((arguments.evalStrategy == .steps && state.globalStep % arguments.evalSteps == 0)
                    || (arguments.evalStrategy == .epoch && endOfEpoch))
            if evaluate {
                if try evaluateAndTrack(report, epoch: epochProgress) {
                    report(
                        Event(
                            kind: .done, step: state.globalStep, totalSteps: totalSteps, epoch: epochProgress, values: [:],
                            message: "early stopping: no improvement of \(metricName) "
                                + "in \(arguments.earlyStoppingPatience!) evaluations"))
                    break training
                }
            } else if arguments.saveSteps > 0, state.globalStep % arguments.saveSteps == 0 {
                try saveCheckpoint(report)
            }
            if distributed ? stopRequested : stop.isRequested {
                stopped = true
                try saveCheckpoint(report)
                report(
                    Event(
                        kind: .done, step: state.globalStep, totalSteps: totalSteps, epoch: epochProgress, values: [:],
                        message: "stopped on request; the checkpoint resumes the run"))
                return
            }
        }
        if arguments.loadBestAtEnd, let best = state.bestCheckpoint {
            if writesFiles { try loadWeights(from: output + "/" + best) }
            if distributed { broadcastTrainable() }
        }
        if distributed { try checkRanksAgree() }
        if writesFiles {
            try model.save(to: output)
            try state.write(to: output)
            try TrainingReport.write(state: state, metric: metricName, to: output + "/report.html")
        }
        // transformers' names for the same figures, so scripts reading either need no mapping.
        let seconds = max(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, 1e-9)
        var values = [
            "train_runtime": seconds, "train_samples_per_second": Double(trainedSamples) / seconds,
            "train_tokens_per_second": Double(trainedTokens) / seconds,
        ]
        if let best = state.bestMetric { values["best_" + metricName] = best }
        if distributed {
            let steps = Double(max(state.globalStep - firstStep, 1))
            values["ranks"] = Double(communicator.size)
            values["allreduce_seconds_per_step"] = exchange.seconds / steps
            values["allreduce_wait_seconds_per_step"] = exchange.waitSeconds / steps
            values["allreduce_bytes_per_step"] = Double(exchange.bytes) / steps
        }
        report(
            Event(
                kind: .done, step: state.globalStep, totalSteps: totalSteps, epoch: Double(state.microStep) / Double(batchesPerEpoch),
                values: values, message: nil))
    }

    /// Forward and backward over this rank's share of the batch `slice` (all of it alone, maybe
    /// none of it among several ranks). Returns the loss over the whole batch, the same on every
    /// rank, and the tokens the whole batch attends to.
    private func trainMicroBatch(_ slice: ArraySlice<Int>, epoch: Int, exchange: inout GradientExchange) throws -> (Double, Int) {
        let distributed = communicator.size > 1
        let mine = distributed ? slice[communicator.share(of: slice.indices)] : slice
        var loss: (graph: Graph, tensor: Tensor, terms: Int)?
        var value: Float = 0, tokens = 0
        if !mine.isEmpty {
            let (batch, targets) = model.encode(mine.map { train.examples[$0] })
            tokens = batch.mask.reduce(0) { $1 ? $0 + 1 : $0 }
            model.reseedDropout(seed: dropoutSeed, step: state.microStep)
            let graph = Graph(recording: true, training: true, computeDType: model.model.computeDType)
            let tensor = model.loss(graph, batch, targets: targets).loss
            value = tensor.values[0]
            loss = (graph, tensor, distributed ? model.lossTerms(batch, targets: targets) : 0)
        }
        // Accumulated micro-batches average: each contributes 1/N of its gradient. A rank's
        // loss is a mean over its share's terms; weighted by its part of all the batch's
        // terms, the ranks' gradients add up to the whole batch's.
        var seed = 1 / Float(arguments.gradientAccumulation)
        var batchLoss = Double(value)
        if distributed {
            let terms = loss?.terms ?? 0
            let total = exchange.addUp([Double(terms), Double(value) * Double(terms), Double(tokens)], over: communicator)
            batchLoss = total[0] > 0 ? total[1] / total[0] : 0
            seed = total[0] > 0 ? Float(Double(terms) / total[0]) * seed : 0
            tokens = Int(total[2])
        }
        guard batchLoss.isFinite else {
            throw TrainingError(
                file: output,
                "the loss became \(batchLoss) at step \(state.globalStep + 1) (epoch \(epoch + 1)); "
                    + "stopped, the last good checkpoint is kept — lower the learning rate or check the data")
        }
        if let loss { loss.graph.backward(loss.tensor, seed: seed) }
        return (batchLoss, tokens)
    }

    /// The example order of `epoch`: a seeded shuffle, the same on every run and after resume.
    func epochOrder(_ epoch: Int) -> [Int] {
        var order = Array(train.examples.indices)
        var rng = SplitMixGenerator(seed: arguments.seed &+ UInt64(epoch) &* 0x9E37_79B9)
        order.shuffle(using: &rng)
        return order
    }

    /// Loss and metrics on `dataset` without dropout.
    public func evaluate(_ dataset: Dataset) -> [String: Double] {
        Evaluation.evaluate(model, on: dataset, batchSize: arguments.batchSize, communicator: communicator)
    }

    /// Evaluates, checkpoints, tracks the best; true when early stopping says stop.
    private func evaluateAndTrack(_ report: (Event) -> Void, epoch: Double) throws -> Bool {
        guard let validation else { return false }
        var metrics = evaluate(validation)
        guard let value = metrics[metricName] else {
            throw TrainingError(
                file: output,
                "metric \(metricName) is not computed for \(model.task.rawValue) "
                    + "(use \(metrics.keys.sorted().joined(separator: ", ")))")
        }
        let higher = Metrics.higherIsBetter(metricName)
        let improved =
            state.bestMetric.map {
                higher ? value > $0 + arguments.earlyStoppingThreshold : value < $0 - arguments.earlyStoppingThreshold
            } ?? true
        let checkpoint = try saveCheckpoint(report, log: false)
        if improved {
            state.bestMetric = value
            state.bestCheckpoint = checkpoint
            state.evaluationsWithoutImprovement = 0
        } else {
            state.evaluationsWithoutImprovement += 1
        }
        metrics = Dictionary(uniqueKeysWithValues: metrics.map { ("eval_" + $0.key, $0.value) })
        log(.init(step: state.globalStep, epoch: epoch, values: metrics))
        if writesFiles {
            try state.write(to: output + "/" + checkpoint)
            try pruneCheckpoints()
        }
        report(Event(kind: .eval, step: state.globalStep, totalSteps: totalSteps, epoch: epoch, values: metrics))
        if let patience = arguments.earlyStoppingPatience, state.evaluationsWithoutImprovement >= patience { return true }
        return false
    }

    @discardableResult
    private func saveCheckpoint(_ report: (Event) -> Void, log: Bool = true) throws -> String {
        let name = "checkpoint-\(state.globalStep)"
        let folder = output + "/" + name
        if writesFiles {
            try model.save(to: folder)
            try TrainerState.writeOptimizer(optimizer, names: model.trainable.map(\.0), to: folder)
            try state.write(to: folder)
        }
        if log {
            if writesFiles { try pruneCheckpoints() }
            report(
                Event(
                    kind: .checkpoint, step: state.globalStep, totalSteps: totalSteps,
                    epoch: Double(state.microStep) / Double(batchesPerEpoch), values: [:], message: folder))
        }
        return name
    }

    /// Checkpoint folder names in step order.
    func checkpoints() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? [])
            .filter { $0.hasPrefix("checkpoint-") && Int($0.dropFirst("checkpoint-".count)) != nil }
            .sorted { Int($0.dropFirst(11))! < Int($1.dropFirst(11))! }
    }

    private func pruneCheckpoints() throws {
        guard let limit = arguments.saveTotalLimit else { return }
        var all = checkpoints()
        while all.count > limit, let oldest = all.first(where: { $0 != state.bestCheckpoint }) {
            try FileManager.default.removeItem(atPath: output + "/" + oldest)
            all.removeAll { $0 == oldest }
        }
    }

    func loadWeights(from folder: String) throws {
        let file: String
        if model.adapter != nil { file = folder + "/adapter_model.safetensors" } else { file = folder + "/model.safetensors" }
        let saved = try SafeTensorsFile(path: file)
        for (name, tensor) in model.trainable {
            guard let info = saved.header.tensor(named: name) else { throw TrainingError(file: file, "checkpoint lacks \(name)") }
            let values = try saved.view(of: info).floats()
            guard values.count == tensor.count else { throw TrainingError(file: file, "\(name) does not match the model") }
            guard values.allSatisfy(\.isFinite) else { throw TrainingError(file: file, "\(name) holds NaN or infinite values") }
            tensor.data.update(from: values, count: values.count)
        }
    }

    private func log(_ entry: TrainerState.LogEntry) {
        state.logHistory.append(entry)
        guard writesFiles else { return }
        var object: [String: Any] = ["step": entry.step, "epoch": entry.epoch]
        for (key, value) in entry.values { object[key] = value }
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            let line = String(decoding: data, as: UTF8.self) + "\n"
            if let handle = FileHandle(forWritingAtPath: metricsLog) {
                handle.seekToEndOfFile()
                handle.write(Data(line.utf8))
                try? handle.close()
            } else {
                try? Data(line.utf8).write(to: URL(fileURLWithPath: metricsLog))
            }
        }
    }
}
