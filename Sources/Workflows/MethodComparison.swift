import Diagnostics
import Foundation
import Models
import SafeTensors
import Training

/// `tailor compare`: trains one model on one dataset with several fine-tuning methods the same
/// way and measures each: trainable parameters, size on disk, peak memory, throughput, wall time,
/// the loss curve and the task's metric on held-out data.
///
/// Each method runs as a child process (`tailor train`, then `tailor eval`, both `--json`): peak
/// memory is then that method's alone, not the high-water mark of every method before it, and
/// one method that crashes or cannot apply to the model is recorded and the others go on.
public struct MethodComparison {
    /// The methods compared, each with the settings `Scripts/compare-methods` always used:
    /// PEFT's usual values and a learning rate that suits the method.
    public enum Method: String, CaseIterable, Codable, Sendable {
        case lora, qlora, dora, ia3, prompt, prefix, bottleneck, bitfit, full

        public var learningRate: String {
            switch self {
            case .lora, .qlora, .dora: "2e-4"
            case .ia3, .prompt: "3e-3"
            case .prefix: "1e-2"
            case .bottleneck, .bitfit: "1e-3"
            case .full: "3e-5"
            }
        }

        /// `tailor train` options of the method; LoRA's targets are the family's PEFT defaults.
        func trainOptions(loraTargets: String) -> [String] {
            let lora = ["--r", "8", "--alpha", "32", "--target-modules", loraTargets, "--lora-dropout", "0.05"]
            let options: [String] =
                switch self {
                case .lora: ["--method", "lora"] + lora
                case .qlora: ["--method", "lora", "--quantize", "nf4"] + lora
                case .dora: ["--method", "dora"] + lora
                case .ia3, .bitfit, .full: ["--method", rawValue]
                case .prompt, .prefix: ["--method", rawValue, "--virtual-tokens", "20"]
                case .bottleneck: ["--method", "bottleneck", "--bottleneck-size", "32"]
                }
            return options + ["--lr", learningRate]
        }
    }

    /// The `tailor` executable the children run (``ChildProcess/currentExecutable`` from the CLI).
    public var executable: String
    public var model: String
    public var data: String
    /// Held-out data for the metric; nil: `test.jsonl` beside `data`.
    public var evalData: String?
    public var task: Dataset.Task = .classification
    public var methods: [Method] = Method.allCases
    public var epochs: Double = 3
    public var batchSize = 8
    public var maxLength: Int?
    public var seed: UInt64?
    /// Holds `METHOD/` per method, `compare.json` and `report.html`.
    public var output: String
    /// Write into an `output` that is not empty (each method's folder is trained afresh).
    public var overwrite = false

    public init(executable: String, model: String, data: String, output: String) {
        (self.executable, self.model, self.data, self.output) = (executable, model, data, output)
    }

    /// What happens while the comparison runs, for a progress display.
    public enum Event: Sendable {
        case started(Method, index: Int, count: Int)
        case step(Method, step: Int, totalSteps: Int, loss: Double)
        case evaluating(Method)
        case finished(MethodResult)
    }

    public static let resultFile = "compare.json"
    public static let reportFile = "report.html"

    /// The metric the comparison ranks by: the one training tracks, except that a language
    /// model is compared by perplexity (which eval reports) rather than by its loss.
    public static func metricName(for task: Dataset.Task) -> String {
        task.head.generates && task.defaultMetric == "loss" ? "perplexity" : task.defaultMetric
    }

    /// The held-out file used when none is named: `test.jsonl` beside the training data.
    public static func defaultEvalData(for data: String) -> String? {
        let candidate = PathText.folder(of: data) + "/test.jsonl"
        guard FileManager.default.fileExists(atPath: candidate), !OutputPaths.sameFile(candidate, data) else { return nil }
        return candidate
    }

    /// Trains and evaluates every method in turn, then writes `compare.json` and `report.html`.
    /// A method that fails is recorded with its error. After `interruption`, no further method
    /// starts and the methods finished so far are written.
    public func run(
        interruption: ComparisonInterruption = ComparisonInterruption(), warn: (String) -> Void,
        events: (Event) -> Void
    ) throws -> Report {
        guard let evalData = evalData ?? Self.defaultEvalData(for: data) else {
            throw WorkflowError(file: data, "no test.jsonl beside it to measure the metric on; name held-out data with --eval-data")
        }
        for file in [data, evalData] where !FileManager.default.fileExists(atPath: file) {
            throw WorkflowError(file: file, "no such file")
        }
        let family = try ModelFamilies.family(ofFolder: model)
        let loraTargets = family.defaultLoRATargets.isEmpty ? "all-linear" : family.defaultLoRATargets.joined(separator: ",")
        _ = try OutputFolder(output, inputs: [model, data, evalData], overwrite: overwrite, isResult: { _ in true })
        var report = Report(
            model: model, data: data, evalData: evalData, task: task.rawValue, epochs: epochs, metric: Self.metricName(for: task),
            methods: [])
        for (index, method) in methods.enumerated() {
            guard interruption.signal == 0 else { break }
            events(.started(method, index: index + 1, count: methods.count))
            var result = try train(method, loraTargets: loraTargets, interruption: interruption, warn: warn, events: events)
            if interruption.signal != 0 { break }
            if result.error == nil {
                events(.evaluating(method))
                evaluate(&result, on: evalData, warn: warn)
            }
            report.methods.append(result)
            events(.finished(result))
        }
        try ModelFolder.writeAtomically(Array(try report.json().utf8), to: output + "/" + Self.resultFile)
        try ModelFolder.writeAtomically(Array(ComparisonReport.html(report).utf8), to: output + "/" + Self.reportFile)
        return report
    }

    /// One `tailor train` child: its start, step and done events make the record.
    func train(
        _ method: Method, loraTargets: String, interruption: ComparisonInterruption, warn: (String) -> Void,
        events: (Event) -> Void
    ) throws -> MethodResult {
        let folder = output + "/" + method.rawValue
        var arguments = [
            "train", "--model", model, "--data", data, "--task", task.rawValue, "--epochs", "\(epochs)",
            "--batch-size", "\(batchSize)", "--output", folder, "--json",
            // A child inherits an mpirun's environment; it trains alone all the same.
            "--distributed", "none",
        ]
        if let maxLength { arguments += ["--max-length", "\(maxLength)"] }
        if let seed { arguments += ["--seed", "\(seed)"] }
        if overwrite { arguments.append("--overwrite") }
        arguments += method.trainOptions(loraTargets: loraTargets)
        var result = MethodResult(method: method.rawValue, output: folder)
        var childError: String?
        let outcome = try ChildProcess(executable: executable, arguments: arguments).run(
            started: interruption.running,
            line: { line in
                guard let event = Self.object(line) else { return }
                childError = childError ?? Self.errorMessage(event)
                switch event["event"] as? String {
                case "start":
                    result.trainableParameters = Self.number(event["trainable_parameters"]).map(Int.init)
                    result.totalParameters = Self.number(event["total_parameters"]).map(Int.init)
                case "step":
                    guard let step = Self.number(event["step"]).map(Int.init), let loss = Self.number(event["loss"]) else { return }
                    result.lossCurve.append(LossPoint(step: step, loss: loss))
                    events(.step(method, step: step, totalSteps: Self.number(event["total_steps"]).map(Int.init) ?? step, loss: loss))
                case "done":
                    result.tokensPerSecond = Self.number(event["train_tokens_per_second"]) ?? result.tokensPerSecond
                    result.samplesPerSecond = Self.number(event["train_samples_per_second"]) ?? result.samplesPerSecond
                default: break
                }
            })
        interruption.running(nil)
        forwardWarnings(outcome.standardError, method: method, warn: warn)
        result.trainSeconds = outcome.seconds
        result.peakMemoryBytes = outcome.peakMemoryBytes
        guard outcome.succeeded else {
            result.error = "training failed: " + (childError ?? Self.failure(outcome))
            return result
        }
        result.adapterBytes = Self.weightBytes(in: folder)
        return result
    }

    /// One `tailor eval` child on the method's result: an adapter on the base (4-bit for QLoRA)
    /// or the saved model folder of a full or BitFit run.
    func evaluate(_ result: inout MethodResult, on evalData: String, warn: (String) -> Void) {
        let isAdapter = FileManager.default.fileExists(atPath: result.output + "/adapter_config.json")
        var arguments = ["eval", "--model", isAdapter ? model : result.output, "--data", evalData, "--task", task.rawValue, "--json"]
        if isAdapter { arguments += ["--adapter", result.output] }
        if result.method == Method.qlora.rawValue { arguments += ["--quantize", "nf4"] }
        if let maxLength { arguments += ["--max-length", "\(maxLength)"] }
        var metrics: [String: Double]?
        var childError: String?
        do {
            let outcome = try ChildProcess(executable: executable, arguments: arguments).run { line in
                guard let object = Self.object(line) else { return }
                childError = childError ?? Self.errorMessage(object)
                if object["examples"] != nil { metrics = object.compactMapValues { Self.number($0) } }
            }
            forwardWarnings(outcome.standardError, method: Method(rawValue: result.method)!, warn: warn)
            if outcome.succeeded, let metrics {
                result.metrics = metrics
            } else {
                result.error = "evaluation failed: " + (childError ?? Self.failure(outcome))
            }
        } catch {
            result.error = "evaluation failed: \(error)"
        }
    }

    /// Bytes of the weights a run saved: the adapter file, or a full model's safetensors files.
    static func weightBytes(in folder: String) -> Int? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let weights =
            names.contains("adapter_model.safetensors")
            ? ["adapter_model.safetensors"] : names.filter { $0.hasPrefix("model") && $0.hasSuffix(".safetensors") }
        guard !weights.isEmpty else { return nil }
        return weights.reduce(0) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size]) as? NSNumber
            return total + (size?.intValue ?? 0)
        }
    }

    private func forwardWarnings(_ standardError: String, method: Method, warn: (String) -> Void) {
        for line in standardError.split(separator: "\n") where line.hasPrefix(Self.warningPrefix) {
            warn("\(method.rawValue): " + line.dropFirst(Self.warningPrefix.count))
        }
    }

    private static let warningPrefix = "tailor: warning: "
    private static let errorPrefix = "tailor: error: "

    /// Why a child failed when it printed no JSON error: its last error line, else how it ended.
    static func failure(_ outcome: ChildProcess.Outcome) -> String {
        let lines = outcome.standardError.split(separator: "\n")
        if let line = lines.last(where: { $0.hasPrefix(errorPrefix) }) { return String(line.dropFirst(errorPrefix.count)) }
        switch outcome.termination {
        case .exited(let code): return "exited with status \(code)" + (lines.last.map { ": \($0)" } ?? "")
        case .signalled(let signal): return "killed by signal \(signal)"
        }
    }

    static func object(_ line: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    }

    static func errorMessage(_ object: [String: Any]) -> String? {
        (object["error"] as? [String: Any])?["message"] as? String
    }

    /// A finite JSON number (a null, text or non-finite value is none).
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        return double.isFinite ? double : nil
    }
}

/// A stop asked of a running comparison from another thread (a signal handler): the running
/// child gets the signal once (so `tailor train` saves a checkpoint and stops), and no further
/// method starts. Children run in their own process group, so a Ctrl-C reaches them only this way.
public final class ComparisonInterruption: @unchecked Sendable {
    private let lock = NSLock()
    private var child: pid_t?
    private var requested: Int32 = 0

    public init() {}

    /// The signal asked for, 0 when none was.
    public var signal: Int32 { lock.withLock { requested } }

    public func request(signal: Int32) {
        lock.withLock {
            guard requested == 0 else { return }
            requested = signal
            if let child { kill(child, signal) }
        }
    }

    /// Records the running child (nil once it ended); one started after a request is stopped at once.
    func running(_ pid: pid_t?) {
        lock.withLock {
            child = pid
            if let pid, requested != 0 { kill(pid, requested) }
        }
    }
}
