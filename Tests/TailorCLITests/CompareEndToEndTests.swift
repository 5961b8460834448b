import Foundation
import Testing

/// `tailor compare` on the tiny BERT: every method trains in a child `tailor`, and compare.json,
/// the `--json` lines and report.html say the same thing with the schema pinned here.
@Suite struct CompareEndToEndTests {
    typealias Object = [String: Any]

    static let methodKeys: Set = [
        "method", "output", "trainable_parameters", "total_parameters", "adapter_bytes", "peak_memory_bytes", "train_seconds",
        "tokens_per_second", "samples_per_second", "metrics", "loss_curve", "error",
    ]
    static let reportKeys: Set = ["model", "data", "eval_data", "task", "epochs", "metric", "methods"]
    static let summaryKeys: Set = [
        "model", "data", "eval_data", "task", "epochs", "metric", "compare_json", "report", "succeeded", "failed",
    ]

    static func compare(_ extra: [String], output: String) throws -> TailorProcess.Result {
        try TailorProcess.run(
            [
                "compare", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
                "--output", output,
            ] + extra)
    }

    @Test func comparesMethodsIntoJSONAndAReport() throws {
        let folder = TemporaryFolder()
        let output = folder.file("compare")
        let result = try Self.compare(["--methods", "lora,ia3,full", "--epochs", "1", "--batch-size", "16", "--json"], output: output)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? Object }
        #expect(lines.count == 4 && lines.allSatisfy { $0 != nil }, "\(result.stdout)")
        let summary = try #require(lines.last ?? nil)
        #expect(Set(summary.keys) == Self.summaryKeys)
        #expect(summary["succeeded"] as? Int == 3 && summary["failed"] as? Int == 0)
        #expect(summary["eval_data"] as? String == TailorProcess.fixture("sentiment/test.jsonl"), "test.jsonl beside --data")

        let data = try Data(contentsOf: URL(fileURLWithPath: output + "/compare.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? Object)
        #expect(Set(report.keys) == Self.reportKeys)
        #expect(report["metric"] as? String == "accuracy" && report["task"] as? String == "classification")
        let methods = try #require(report["methods"] as? [Object])
        #expect(methods.map { $0["method"] as? String } == ["lora", "ia3", "full"])
        for (index, method) in methods.enumerated() {
            let name = method["method"] as? String ?? "?"
            #expect(Set(method.keys) == Self.methodKeys, "\(name)")
            #expect(method["error"] is NSNull, "\(name): \(method["error"] ?? "")")
            #expect((method["adapter_bytes"] as? Int ?? 0) > 0, "\(name)")
            #expect((method["peak_memory_bytes"] as? Int ?? 0) > 1_000_000, "\(name)")
            #expect((method["train_seconds"] as? Double ?? 0) > 0 && (method["tokens_per_second"] as? Double ?? 0) > 0, "\(name)")
            let curve = method["loss_curve"] as? [Object] ?? []
            #expect(!curve.isEmpty && curve.allSatisfy { $0["step"] is Int && $0["loss"] is Double }, "\(name)")
            let metrics = method["metrics"] as? Object
            #expect((metrics?["accuracy"] as? Double).map { (0...1).contains($0) } == true, "\(name)")
            #expect(metrics?["examples"] as? Int == 300, "\(name)")
            // The --json line of each method is its compare.json entry.
            #expect(lines[index]?["method"] as? String == name && lines[index]?["adapter_bytes"] as? Int == method["adapter_bytes"] as? Int)
        }
        let trainable = methods.map { $0["trainable_parameters"] as? Int ?? 0 }
        #expect(0 < trainable[0] && trainable[0] < trainable[2], "lora trains fewer parameters than full: \(trainable)")
        #expect(trainable[2] == methods[2]["total_parameters"] as? Int, "full trains every parameter")
        #expect(FileManager.default.fileExists(atPath: output + "/lora/adapter_model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: output + "/full/model.safetensors"))

        let html = try String(contentsOfFile: output + "/report.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 == 2, "the metric chart and the loss curves")
        #expect(html.components(separatedBy: "<polyline").count - 1 == 3, "one loss curve per method")
        for name in ["lora", "ia3", "full"] { #expect(html.contains(">\(name)<"), "\(name)") }
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "no external assets or scripts")
    }

    @Test func anUnknownMethodIsOneUsageError() throws {
        let folder = TemporaryFolder()
        let result = try Self.compare(["--methods", "lora,lorax"], output: folder.file("compare"))
        #expect(result.status != 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.contains("rror") }
        #expect(errors.count == 1, "\(result.stderr)")
        #expect(errors.first?.contains("unknown method 'lorax'") == true && errors.first?.contains("qlora, dora, ia3") == true)
        #expect(!FileManager.default.fileExists(atPath: folder.file("compare")))
    }

    @Test func anOutputFolderWithFilesIsRefused() throws {
        let folder = TemporaryFolder()
        let output = folder.file("compare")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: output + "/notes.txt", contents: Data("mine".utf8))
        let result = try Self.compare(["--methods", "lora"], output: output)
        #expect(result.status == 1)
        #expect(result.stderr.contains("already holds notes.txt"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output) == ["notes.txt"])
    }

    @Test func heldOutDataIsRequiredWithoutATestFileBesideTheData() throws {
        let folder = TemporaryFolder()
        try FileManager.default.copyItem(atPath: TailorProcess.fixture("sentiment/train.jsonl"), toPath: folder.file("train.jsonl"))
        let result = try TailorProcess.run([
            "compare", "--model", TailorProcess.fixture("tiny-bert"), "--data", folder.file("train.jsonl"),
            "--output", folder.file("compare"),
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--eval-data"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("compare")))
    }
}
