import ArgumentParser
import Diagnostics
import Foundation
import Training
import Workflows

/// `tailor compare`: ``MethodComparison`` run and printed as a table (or JSON lines).
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare fine-tuning methods on one model and dataset.",
        discussion: """
            Trains the model on --data once per method, each in a `tailor train` process of its \
            own (so its peak memory is its own), evaluates each result with `tailor eval` on \
            --eval-data, and prints per method: trainable parameters, size of the saved weights, \
            peak memory, training tokens/s, training wall time and the task's metric (accuracy, \
            f1, rougeL or perplexity). Writes OUTPUT/METHOD/ per method, OUTPUT/compare.json and \
            OUTPUT/report.html (the metric against trainable parameters and the loss curves, as \
            inline SVG). A method that fails is reported and the others go on.

            Methods and their settings: lora, qlora (LoRA on the NF4 base), dora: r 8, alpha 32, \
            dropout 0.05 on the family's PEFT default targets, lr 2e-4; ia3: lr 3e-3; prompt: 20 \
            virtual tokens, lr 3e-3; prefix: 20 virtual tokens, lr 1e-2; bottleneck: size 32, lr \
            1e-3; bitfit: lr 1e-3; full: lr 3e-5. The adapter methods also train a classification \
            head in full, as PEFT does; BitFit trains biases only.

            Examples:
              tailor compare --model ~/.cache/tailor/all-MiniLM-L6-v2 \\
                --data fixtures/sentiment/train.jsonl --output runs/compare
              tailor compare --model fixtures/tiny-bert \\
                --data fixtures/sentiment/train.jsonl --methods lora,ia3,full \\
                --epochs 1 --batch-size 16 --output runs/compare-tiny --json
            """
    )

    @Option(help: "The base model folder.") var model: String
    @Option(help: "Training data (CSV or JSONL).") var data: String
    @Option(help: "Held-out data for the metric (default: test.jsonl beside --data).") var evalData: String?
    @Option(help: "What to train the model for.") var task: Dataset.Task = .classification
    @Option(
        help: ArgumentHelp(
            "Methods to compare, comma-separated (default: all of "
                + MethodComparison.Method.allCases.map(\.rawValue).joined(separator: ",") + ").",
            valueName: "methods"))
    var methods: String?
    @Option(help: "Epochs per method.") var epochs: Double = 3
    @Option(help: "Examples per step.") var batchSize = 8
    @Option(help: "Truncate inputs to this many tokens (train's default: 128).") var maxLength: Int?
    @Option(help: "Random seed of every run (train's default: 42).") var seed: UInt64?
    @Option(help: "Output folder: METHOD/ per method, compare.json, report.html.") var output: String
    @Flag(help: "Write into an output folder that is not empty (each method is trained afresh).") var overwrite = false
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        _ = try chosenMethods()
        try requireRange(epochs.isFinite && epochs > 0 && epochs <= 1e6, "--epochs", "in (0, 1000000]", epochs)
        try requireRange(batchSize > 0, "--batch-size", "a positive integer", batchSize)
        try requireRange((maxLength ?? 2) > 1, "--max-length", "at least 2", maxLength ?? 0)
    }

    func chosenMethods() throws -> [MethodComparison.Method] {
        guard let methods else { return MethodComparison.Method.allCases }
        let names = TrainCommand.list(methods)
        let valid = MethodComparison.Method.allCases.map(\.rawValue).joined(separator: ", ")
        guard !names.isEmpty else { throw ValidationError("--methods names no method (choose from \(valid))") }
        var chosen: [MethodComparison.Method] = []
        for name in names {
            guard let method = MethodComparison.Method(rawValue: name.lowercased()) else {
                throw ValidationError("--methods: unknown method '\(name)' (choose from \(valid))")
            }
            guard !chosen.contains(method) else { throw ValidationError("--methods names \(name) twice") }
            chosen.append(method)
        }
        return chosen
    }

    func run() throws {
        try reportingErrors {
            var comparison = MethodComparison(
                executable: ChildProcess.currentExecutable, model: model, data: data, output: output)
            comparison.evalData = evalData
            comparison.task = task
            comparison.methods = try chosenMethods()
            comparison.epochs = epochs
            comparison.batchSize = batchSize
            comparison.maxLength = maxLength
            comparison.seed = seed
            comparison.overwrite = overwrite
            let interruption = ComparisonInterruption()
            // The first signal goes to the running `tailor train`, which saves a checkpoint.
            Interrupts.stopGracefully { interruption.request(signal: Interrupts.received) }
            let progress = CompareProgress(quiet: outputOptions.json, metric: MethodComparison.metricName(for: task))
            let report = try comparison.run(
                interruption: interruption,
                warn: {
                    progress.clear()
                    printWarning($0)
                },
                events: { event in
                    if outputOptions.json, case .finished(let result) = event {
                        try? outputOptions.emit(result)
                    } else {
                        progress.show(event)
                    }
                })
            progress.clear()
            if interruption.signal != 0 {
                if !outputOptions.json { print("stopped; the methods finished so far are in \(output)/compare.json") }
                throw ExitCode(Interrupts.exitCode)
            }
            if outputOptions.json {
                try outputOptions.emit(report.summary(output: output))
            } else {
                printTable(report)
            }
            guard !report.succeeded.isEmpty else { throw WorkflowError(file: output, "every method failed") }
        }
    }

    func printTable(_ report: MethodComparison.Report) {
        let header = ComparisonReport.header(report)
        print("| " + header.joined(separator: " | ") + " |")
        print("|" + header.map { _ in "---|" }.joined())
        for row in ComparisonReport.rows(report) { print("| " + row.joined(separator: " | ") + " |") }
        for result in report.methods { if let error = result.error { printWarning("\(result.method): \(error)") } }
        print("\nresults: \(output)/\(MethodComparison.resultFile), report: \(output)/\(MethodComparison.reportFile)")
    }
}

/// One line per method on a terminal's standard error: redrawn while it trains, then left as
/// the method's summary. Nothing when standard error is not a terminal or under --json.
private final class CompareProgress {
    private let enabled: Bool
    private let metric: String
    private var prefix = ""

    init(quiet: Bool, metric: String) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
        self.metric = metric
    }

    func show(_ event: MethodComparison.Event) {
        guard enabled else { return }
        switch event {
        case .started(let method, let index, let count):
            prefix = "[\(index)/\(count)] \(method.rawValue)"
            draw(prefix + ": starting")
        case .step(_, let step, let total, let loss):
            draw(String(format: "%@: step %d/%d  loss %.4f", prefix, step, total, loss))
        case .evaluating:
            draw(prefix + ": evaluating")
        case .finished(let result):
            let outcome =
                result.error
                ?? String(format: "%.1f s, ", result.trainSeconds ?? 0)
                + (result.metrics?[metric].map { ComparisonReport.format(metric: metric, $0) }.map { "\(metric) \($0)" } ?? "")
            draw(prefix + ": " + outcome)
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }

    func clear() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func draw(_ line: String) {
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }
}
