import Foundation
import SafeTensors
import Testing

/// The adapter jobs from the command line: stacks, per-line switching, merging into a new
/// adapter, and training on a frozen stack.
@Suite struct AdapterJobsEndToEndTests {
    static func lines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    static func logits(_ row: [String: Any]?) -> [Double] { row?["logits"] as? [Double] ?? [] }

    static func close(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-5) -> Bool {
        !a.isEmpty && a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < tolerance }
    }

    /// A JSONL file naming an adapter per line (folders, a registry reference, a stack, the
    /// base) gives each line what a run with that adapter alone gives.
    @Test func perLineAdaptersEqualSingleAdapterRuns() throws {
        let folder = TemporaryFolder()
        let registry = folder.file("registry")
        let peft = TailorProcess.fixture("peft")
        #expect(
            try TailorProcess.run([
                "adapter", "add", peft + "/tiny-bert-dora", "--name", "dora", "--base", TailorProcess.fixture("tiny-bert"),
                "--registry", registry,
            ]).status == 0)
        let rows: [(text: String, adapter: String?)] = [
            ("what a lovely day", peft + "/tiny-bert-lora"), ("terrible service", "dora"), ("what a lovely day", nil),
            ("so so", ""), ("meh", peft + "/tiny-bert-ia3"), ("great", peft + "/tiny-bert-lora:0.5"),
        ]
        let jsonl = rows.map { row -> String in
            var object: [String: Any] = ["text": row.text]
            if let adapter = row.adapter { object["adapter"] = adapter }
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }.joined(separator: "\n")
        try Data(jsonl.utf8).write(to: URL(fileURLWithPath: folder.file("mixed.jsonl")))
        let defaultAdapter = peft + "/tailor-tiny-bert-lora"
        let mixed = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", defaultAdapter,
            "--input", folder.file("mixed.jsonl"), "--registry", registry, "--batch-size", "4", "--json",
        ])
        #expect(mixed.status == 0, "\(mixed.stderr)")
        let results = Self.lines(mixed.stdout)
        #expect(results.count == rows.count)
        for (index, row) in rows.enumerated() {
            var arguments = ["classify", "--model", TailorProcess.fixture("tiny-bert"), row.text, "--registry", registry, "--json"]
            switch row.adapter {
            case nil: arguments += ["--adapter", defaultAdapter]
            case ""?: break
            case let adapter?: arguments += ["--adapter", adapter]
            }
            let alone = try TailorProcess.run(arguments)
            #expect(alone.status == 0, "\(alone.stderr)")
            #expect(
                Self.close(Self.logits(results[safe: index]), Self.logits(alone.json)), "line \(index + 1): \(row.adapter ?? "default")")
        }
        // A zero-weight stack member changes nothing.
        let zero = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", peft + "/tiny-bert-lora:0", "so so", "--json",
        ])
        #expect(Self.close(Self.logits(zero.json), Self.logits(results[safe: 3])))
        let missing = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--input", folder.file("mixed.jsonl"),
            "--registry", folder.file("empty-registry"),
        ])
        #expect(missing.status != 0 && missing.stderr.split(separator: "\n").count == 1 && missing.stderr.contains("dora"))
    }

    @Test func generateSwitchesPerLine() throws {
        let folder = TemporaryFolder()
        let peft = TailorProcess.fixture("peft")
        let prompts = [("Hello", peft + "/tiny-llama-lora"), ("Hello", peft + "/tiny-llama-ia3"), ("Hello", "")]
        let jsonl = prompts.map { #"{"prompt": "\#($0.0)", "adapter": "\#($0.1)"}"# }.joined(separator: "\n")
        try Data(jsonl.utf8).write(to: URL(fileURLWithPath: folder.file("p.jsonl")))
        let mixed = try TailorProcess.run([
            "generate", "--model", TailorProcess.fixture("tiny-llama"), "--input", folder.file("p.jsonl"),
            "--max-new-tokens", "6", "--json",
        ])
        #expect(mixed.status == 0, "\(mixed.stderr)")
        let results = Self.lines(mixed.stdout)
        for (index, (prompt, adapter)) in prompts.enumerated() {
            let alone = try TailorProcess.run(
                ["generate", "--model", TailorProcess.fixture("tiny-llama"), prompt, "--max-new-tokens", "6", "--json"]
                    + (adapter.isEmpty ? [] : ["--adapter", adapter]))
            #expect(results[safe: index]?["tokens"] as? [Int] == alone.json?["tokens"] as? [Int], "line \(index + 1)")
        }
    }

    /// `tailor merge a b --method …` writes a PEFT folder (and a registry version) that loads
    /// like any adapter; a cat merge equals the weighted stack exactly.
    /// `tailor deploy` is `merge --into-base` under its own name: the same folder, byte for byte.
    @Test func deployIsMergeIntoBase() throws {
        let folder = TemporaryFolder()
        let adapter = TailorProcess.fixture("peft") + "/tiny-llama-lora"
        let deploy = try TailorProcess.run([
            "deploy", "--model", TailorProcess.fixture("tiny-llama"), adapter + ":0.5",
            "--dtype", "bf16", "--output", folder.file("deploy"), "--json",
        ])
        let merge = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-llama"), adapter + ":0.5",
            "--dtype", "bf16", "--output", folder.file("merge"), "--json",
        ])
        #expect(deploy.status == 0 && merge.status == 0, "\(deploy.stderr)\(merge.stderr)")
        #expect(deploy.json?["dtype"] as? String == "bf16")
        let files = ["deploy", "merge"].map { FileManager.default.contents(atPath: folder.file($0 + "/model.safetensors")) }
        #expect(files[0] != nil && files[0] == files[1])
        let refused = try TailorProcess.run(["deploy", "--model", TailorProcess.fixture("tiny-llama"), "--output", folder.file("none")])
        #expect(refused.status != 0 && refused.stderr.contains("name the adapters"))
    }

    @Test func mergeIntoANewAdapter() throws {
        let folder = TemporaryFolder()
        let peft = TailorProcess.fixture("peft")
        let (a, b) = (peft + "/tiny-llama-lora", peft + "/tailor-tiny-llama-lora")
        let cat = try TailorProcess.run([
            "merge", a, b, "--weights", "0.7,0.3", "--method", "cat", "--output", folder.file("cat"),
            "--name", "both", "--registry", folder.file("registry"), "--json",
        ])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect((cat.json?["registered"] as? [String: Any])?["version"] as? Int == 1)
        #expect((cat.json?["max_relative_error"] as? Double) == 0)
        let merged = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-llama"), folder.file("cat"),
            "--output", folder.file("deploy-cat"), "--json",
        ])
        let stacked = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-llama"), a + ":0.7", b + ":0.3",
            "--output", folder.file("deploy-stack"), "--json",
        ])
        #expect(merged.status == 0 && stacked.status == 0, "\(merged.stderr)\(stacked.stderr)")
        let one = try Checkpoint.open(folder.file("deploy-cat")), other = try Checkpoint.open(folder.file("deploy-stack"))
        for name in one.tensorNames {
            let difference = zip(try one.tensor(name).floats(), try other.tensor(name).floats()).map { abs($0 - $1) }.max() ?? 0
            #expect(difference < 1e-5, "\(name): \(difference)")
        }
        for method in ["linear", "svd", "ties", "dare-linear", "dare-ties", "magnitude-prune"] {
            let run = try TailorProcess.run([
                "merge", a, b, "--method", method, "--density", "0.5", "--rank", "6", "--seed", "3",
                "--output", folder.file(method), "--json",
            ])
            #expect(run.status == 0, "\(method): \(run.stderr)")
            #expect(run.json?["rank"] as? Int == 6)
            let generate = try TailorProcess.run([
                "generate", "--model", TailorProcess.fixture("tiny-llama"), "--adapter", folder.file(method), "Hi",
                "--max-new-tokens", "2",
            ])
            #expect(generate.status == 0, "\(method): \(generate.stderr)")
        }
        let conflict = try TailorProcess.run([
            "merge", peft + "/tiny-bert-lora", peft + "/tailor-tiny-bert-lora", "--output", folder.file("heads"),
        ])
        #expect(
            conflict.status != 0 && conflict.stderr.contains("head to keep")
                && !FileManager.default.fileExists(atPath: folder.file("heads")))
        let chosen = try TailorProcess.run([
            "merge", peft + "/tiny-bert-lora", peft + "/tailor-tiny-bert-lora", "--head-from", "2", "--output", folder.file("heads"),
        ])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(try TailorProcess.run(["merge", a, b, "--method", "mean", "--output", folder.file("x")]).status != 0)
        // Adapters of another model: a warning without --model, refused with it.
        let mixed = [peft + "/tiny-bert-lora", a]
        #expect(try TailorProcess.run(["merge"] + mixed + ["--output", folder.file("mixed")]).stderr.contains("different base models"))
        let checked = try TailorProcess.run(
            ["merge"] + mixed + ["--model", TailorProcess.fixture("tiny-bert"), "--output", folder.file("mixed-checked")])
        #expect(checked.status != 0 && checked.stderr.contains("not a Linear module of the base model"))
        #expect(try TailorProcess.run(["merge", a, b]).stderr.contains("--output"))
    }

    /// A new adapter trained on a frozen stack: only the new adapter is saved, and the stack is
    /// in the model while it trains (the first loss differs from training on the bare base).
    @Test func trainOnAFrozenStack() throws {
        let folder = TemporaryFolder()
        let data = (0..<8).map { #"{"prompt": "Q\#($0)", "completion": " A\#($0)"}"# }.joined(separator: "\n")
        try Data(data.utf8).write(to: URL(fileURLWithPath: folder.file("qa.jsonl")))
        func train(_ extra: [String], _ output: String) throws -> TailorProcess.Result {
            try TailorProcess.run(
                [
                    "train", "--model", TailorProcess.fixture("tiny-llama"), "--task", "causal-lm", "--data", folder.file("qa.jsonl"),
                    "--target-modules", "q_proj,v_proj", "--epochs", "1", "--batch-size", "4", "--logging-steps", "1",
                    "--output", folder.file(output), "--json",
                ] + extra)
        }
        let stacked = try train(["--stack", TailorProcess.fixture("peft/tiny-llama-lora") + ":0.8"], "on-stack")
        let bare = try train([], "bare")
        #expect(stacked.status == 0 && bare.status == 0, "\(stacked.stderr)\(bare.stderr)")
        func firstLoss(_ result: TailorProcess.Result) -> Double? {
            Self.lines(result.stdout).first { $0["loss"] != nil }?["loss"] as? Double
        }
        #expect(firstLoss(stacked) != nil && firstLoss(stacked) != firstLoss(bare))
        let saved = try SafeTensorsFile(path: folder.file("on-stack/adapter_model.safetensors"))
        #expect(saved.tensors.count == 2 * 2 * 2, "q_proj and v_proj in two layers, A and B: the stack is not saved")
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

extension AdapterJobsEndToEndTests {
    /// merge --into-base then extract at the adapter's rank gives the adapter's update back
    /// (relative error ~0), stored in the registry under --name.
    @Test func extractUndoesAMergeIntoTheRegistry() throws {
        let folder = TemporaryFolder()
        let adapter = TailorProcess.fixture("peft/tailor-tiny-llama-lora")
        let merge = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-llama"), adapter, "--output", folder.file("tuned"),
        ])
        #expect(merge.status == 0, "\(merge.stderr)")
        let extract = try TailorProcess.run([
            "extract", "--model", TailorProcess.fixture("tiny-llama"), "--tuned", folder.file("tuned"), "--rank", "4",
            "--name", "back", "--registry", folder.file("registry"), "--json",
        ])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect((extract.json?["max_relative_error"] as? Double ?? 1) < 1e-3)
        #expect((extract.json?["registered"] as? [String: Any])?["name"] as? String == "back")
        let diff = try TailorProcess.run(["diff", adapter, "back", "--registry", folder.file("registry"), "--json"])
        let modules = diff.json?["modules"] as? [[String: Any]] ?? []
        #expect(!modules.isEmpty && modules.allSatisfy { ($0["cosine"] as? Double ?? 0) > 0.999 }, "\(diff.stderr)")
        #expect(
            try TailorProcess.run(["extract", "--model", TailorProcess.fixture("tiny-llama"), "--tuned", folder.file("tuned")]).stderr
                .contains("--name"))
    }
}

extension AdapterJobsEndToEndTests {
    /// Adapters for tasks with different label sets on one base: a 3-label adapter and a
    /// 2-label one answer lines of one file (their heads run in separate batches), each as alone.
    @Test func adaptersWithDifferentLabelSetsServeTogether() throws {
        let folder = TemporaryFolder()
        let labels = ["low", "mid", "high"]
        let rows = (0..<24).map { #"{"text": "sample number \#($0)", "label": "\#(labels[$0 % 3])"}"# }.joined(separator: "\n")
        try Data(rows.utf8).write(to: URL(fileURLWithPath: folder.file("three.jsonl")))
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", folder.file("three.jsonl"),
            "--target-modules", "query,value", "--modules-to-save", "classifier", "--epochs", "1",
            "--output", folder.file("three"), "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let two = TailorProcess.fixture("peft/tailor-tiny-bert-lora")
        let requests = [
            ("sample number 3", folder.file("three")), ("what a lovely day", two), ("sample number 7", folder.file("three")), ("so so", ""),
        ]
        let jsonl = requests.map { #"{"text": "\#($0.0)", "adapter": "\#($0.1)"}"# }.joined(separator: "\n")
        try Data(jsonl.utf8).write(to: URL(fileURLWithPath: folder.file("mixed.jsonl")))
        let mixed = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--input", folder.file("mixed.jsonl"), "--json",
        ])
        #expect(mixed.status == 0, "\(mixed.stderr)")
        let results = Self.lines(mixed.stdout)
        for (index, (text, adapter)) in requests.enumerated() {
            let alone = try TailorProcess.run(
                ["classify", "--model", TailorProcess.fixture("tiny-bert"), text, "--json"]
                    + (adapter.isEmpty ? [] : ["--adapter", adapter]))
            #expect(Self.close(Self.logits(results[safe: index]), Self.logits(alone.json)), "line \(index + 1)")
            #expect(results[safe: index]?["label"] as? String == alone.json?["label"] as? String)
        }
        #expect(Self.logits(results[safe: 0]).count == 3 && Self.logits(results[safe: 1]).count == 2)
        #expect(labels.contains(results[safe: 0]?["label"] as? String ?? ""))
    }
}
