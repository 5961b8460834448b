import Foundation
import Testing

@testable import Workflows

/// The pieces of `tailor compare` that need no training: child processes and the report page.
@Suite struct MethodComparisonTests {
    /// Lines arrive as written, a last line without a newline included; standard error is kept
    /// whole, and the exit status and a signal are told apart.
    @Test func aChildsOutputLinesStatusAndSignal() throws {
        var lines: [String] = []
        let script = "echo one; echo two >&2; printf 'three\\nfour'; exit 3"
        let outcome = try ChildProcess(executable: "/bin/sh", arguments: ["-c", script]).run { lines.append($0) }
        #expect(lines == ["one", "three", "four"])
        #expect(outcome.standardError == "two\n")
        #expect(outcome.termination == .exited(3) && !outcome.succeeded)
        #expect(outcome.peakMemoryBytes > 0 && outcome.seconds > 0)
        let killed = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "kill -TERM $$"]).run { _ in }
        #expect(killed.termination == .signalled(SIGTERM))
    }

    /// More output on standard error than a pipe holds does not stall the child.
    @Test func aChattyStandardErrorDoesNotBlock() throws {
        let script = "head -c 200000 /dev/zero | tr '\\0' x >&2; echo done"
        var lines: [String] = []
        let outcome = try ChildProcess(executable: "/bin/sh", arguments: ["-c", script]).run { lines.append($0) }
        #expect(outcome.succeeded && lines == ["done"] && outcome.standardError.count == 200_000)
    }

    @Test func aMissingExecutableIsAnError() {
        #expect(throws: WorkflowError.self) { _ = try ChildProcess(executable: "/nonexistent/tailor", arguments: []).run { _ in } }
    }

    /// The page has the table, both charts and every method; a failed method shows its error and
    /// no point; text from paths is escaped.
    @Test func theReportShowsEveryMethodAndEscapesText() {
        var lora = MethodComparison.MethodResult(method: "lora", output: "out/lora")
        (lora.trainableParameters, lora.totalParameters, lora.adapterBytes) = (2_114, 38_818, 9_744)
        (lora.peakMemoryBytes, lora.trainSeconds, lora.tokensPerSecond) = (53_000_000, 2.8, 19_099)
        lora.metrics = ["accuracy": 0.973, "examples": 300]
        lora.lossCurve = [.init(step: 1, loss: 0.69), .init(step: 10, loss: 0.4)]
        var full = lora
        full.method = "full"
        full.trainableParameters = 38_818
        full.metrics?["accuracy"] = 0.98
        var prompt = MethodComparison.MethodResult(method: "prompt", output: "out/prompt")
        prompt.error = "training failed: <no> prompt tuning here"
        let report = MethodComparison.Report(
            model: "models/a&b", data: "train.jsonl", evalData: "test.jsonl", task: "classification", epochs: 1, metric: "accuracy",
            methods: [lora, full, prompt])
        let rows = ComparisonReport.rows(report)
        #expect(rows[0] == ["lora", "2,114 (5.4%)", "9.7 kB", "53.0 MB", "19,099", "2.8 s", "97.3%"])
        #expect(rows[1][1] == "38,818 (100%)" && rows[2].last == "failed")
        let html = ComparisonReport.html(report)
        #expect(html.components(separatedBy: "<svg").count == 3)
        #expect(html.components(separatedBy: "<circle").count == 3, "a point per method that has a metric")
        #expect(html.contains("models/a&amp;b") && html.contains("&lt;no&gt; prompt tuning here") && !html.contains("<no>"))
        for name in ["lora", "full", "prompt"] { #expect(html.contains(">\(name)<")) }
    }

    /// The metric axis runs over round numbers that hold every point, a lone value included.
    @Test func theMetricAxisHasRoundTicks() {
        let accuracy = ComparisonReport.roundTicks(low: 0.717, high: 1)
        #expect(abs(accuracy.low - 0.7) < 1e-9 && abs(accuracy.high - 1) < 1e-9 && abs(accuracy.step - 0.1) < 1e-9)
        let perplexity = ComparisonReport.roundTicks(low: 12.3, high: 48)
        #expect(perplexity == (10, 50, 10))
        let single = ComparisonReport.roundTicks(low: 0.5, high: 0.5)
        #expect(single.low < 0.5 && single.high > 0.5)
    }

    @Test func theComparedMetricFollowsTheTask() {
        #expect(MethodComparison.metricName(for: .classification) == "accuracy")
        #expect(MethodComparison.metricName(for: .tokenClassification) == "f1")
        #expect(MethodComparison.metricName(for: .questionAnswering) == "f1")
        #expect(MethodComparison.metricName(for: .causalLM) == "perplexity")
    }
}
