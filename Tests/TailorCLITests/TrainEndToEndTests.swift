import Foundation
import Testing

@Suite struct TrainEndToEndTests {
    @Test func loraClassificationThenEvalAndClassifyWithTheAdapter() throws {
        let folder = TemporaryFolder()
        let out = folder.file("run")
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--method", "lora", "--r", "4", "--alpha", "8", "--target-modules", "query,value",
            "--modules-to-save", "classifier", "--epochs", "0.2", "--batch-size", "16", "--eval-strategy", "epoch",
            "--output", out, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let events = train.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.first?["event"] as? String == "start")
        #expect(events.contains { $0["event"] as? String == "step" && $0["loss"] is Double })
        #expect(events.last?["event"] as? String == "done")
        for file in [
            "adapter_config.json", "adapter_model.safetensors", "adapter_labels.json", "metrics.jsonl", "report.html", "trainer_state.json",
        ] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        let eval = try TailorProcess.run([
            "eval", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", out,
            "--data", TailorProcess.fixture("sentiment/test.jsonl"), "--json",
        ])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.json?["examples"] as? Int == 300)
        #expect((eval.json?["accuracy"] as? Double).map { (0...1).contains($0) } == true)
        let classify = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", out, "lovely", "--json",
        ])
        #expect(classify.status == 0, "\(classify.stderr)")
        #expect(["negative", "positive"].contains(classify.json?["label"] as? String ?? ""))
    }

    /// --bias all trains every bias (LayerNorm's too) and saves PEFT's key set; the adapter goes
    /// through the registry and merges into the base with the logits of base + adapter.
    @Test func biasAllSavesPEFTsKeysThenRegistersAndMerges() throws {
        let folder = TemporaryFolder()
        let (out, registry) = (folder.file("run"), folder.file("registry"))
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"),
            "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--method", "lora", "--r", "4", "--alpha", "8", "--target-modules", "query", "--bias", "all",
            "--modules-to-save", "classifier", "--epochs", "0.05", "--lr", "1e-2", "--output", out,
            "--register", "biased", "--registry", registry, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        func tensors(_ path: String) throws -> [String: [Float]] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
            let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
            var out: [String: [Float]] = [:]
            for (name, entry) in header where name != "__metadata__" {
                let offsets = (entry as! [String: Any])["data_offsets"] as! [Int]
                let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
                out[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            }
            return out
        }
        let ours = try tensors(out + "/adapter_model.safetensors")
        let peft = try tensors(TailorProcess.fixture("peft/tiny-bert-bias-all/adapter_model.safetensors"))
        #expect(ours.keys.sorted() == peft.keys.sorted(), "the keys PEFT saves for bias=all on query")
        let base = try tensors(TailorProcess.fixture("tiny-bert/model.safetensors"))
        #expect(ours["base_model.model.bert.embeddings.LayerNorm.bias"] != base["bert.embeddings.LayerNorm.bias"], "LayerNorm biases train")
        let key = "bert.encoder.layer.0.attention.self.key.bias"
        #expect(ours["base_model.model." + key] != base[key], "so do the biases of Linear layers LoRA leaves alone")
        #expect(ours["base_model.model.classifier.original_module.bias"] == base["classifier.bias"], "the original head's bias is kept")
        let merge = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", "biased",
            "--registry", registry, "--output", folder.file("merged"), "--json",
        ])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect((merge.json?["max_logit_difference"] as? Double).map { $0 < 1e-4 } == true, "\(merge.stdout)")
        let merged = try TailorProcess.run(["classify", "--model", folder.file("merged"), "lovely", "--json"])
        let adapted = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", out, "lovely",
            "--json",
        ])
        let logits = zip(merged.json?["logits"] as? [Double] ?? [], adapted.json?["logits"] as? [Double] ?? [1]).map { abs($0 - $1) }
        #expect(!logits.isEmpty && logits.allSatisfy { $0 < 1e-4 }, "\(logits)")
        let add = try TailorProcess.run([
            "adapter", "add", TailorProcess.fixture("peft/tiny-bert-bias-all"), "--name", "peft-bias",
            "--base", TailorProcess.fixture("tiny-bert"), "--registry", registry,
        ])
        #expect(add.status == 0, "\(add.stderr)")
    }

    @Test func causalLMWithPromptCompletionThenGenerateWithTheAdapter() throws {
        let folder = TemporaryFolder()
        let data = (0..<12).map { #"{"prompt": "Q: \#($0) plus one? A:", "completion": " \#($0 + 1)"}"# }.joined(separator: "\n")
        try Data(data.utf8).write(to: URL(fileURLWithPath: folder.file("qa.jsonl")))
        let out = folder.file("run")
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-llama"), "--task", "causal-lm", "--data", folder.file("qa.jsonl"),
            "--method", "lora", "--target-modules", "all-linear", "--quantize", "nf4", "--epochs", "1",
            "--batch-size", "4", "--output", out,
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("trainable params:"))
        let generate = try TailorProcess.run([
            "generate", "--model", TailorProcess.fixture("tiny-llama"), "--adapter", out, "Q: 3 plus one? A:",
            "--max-new-tokens", "4", "--json",
        ])
        #expect(generate.status == 0, "\(generate.stderr)")
    }

    /// Every method trains from the command line; adapters serve through `--adapter`, full and
    /// BitFit runs through `--model` (they save a whole model folder).
    @Test(arguments: ["dora", "ia3", "prompt", "prefix", "bottleneck", "bitfit", "full"])
    func everyMethodTrainsAndServes(method: String) throws {
        let folder = TemporaryFolder()
        let out = folder.file("run")
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--method", method, "--virtual-tokens", "4", "--bottleneck-size", "8", "--epochs", "0.1",
            "--batch-size", "16", "--output", out, "--json",
        ])
        #expect(train.status == 0, "\(method): \(train.stderr)")
        let wholeModel = method == "full" || method == "bitfit"
        let classify = try TailorProcess.run(
            ["classify", "--model", wholeModel ? out : TailorProcess.fixture("tiny-bert")]
                + (wholeModel ? [] : ["--adapter", out]) + ["lovely", "--json"])
        #expect(classify.status == 0, "\(method): \(classify.stderr)")
        #expect(["negative", "positive"].contains(classify.json?["label"] as? String ?? ""), "\(method)")
    }

    /// Ctrl-C (SIGINT) or SIGTERM during training saves a checkpoint and stops with 128 + the
    /// signal (an interrupted run is no success); --resume picks up from it.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptSavesACheckpointAndResumeContinues(signal: Int32) throws {
        let folder = TemporaryFolder()
        let out = folder.file("run")
        let arguments = [
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--method", "lora", "--epochs", "30", "--batch-size", "8", "--logging-steps", "1", "--output", out, "--json",
        ]
        let process = Process()
        process.executableURL = TailorProcess.executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        while !text.contains(#""event":"step""#) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, signal)
        text += String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + signal)
        let events = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let done = try #require(events.last)
        #expect(done["event"] as? String == "done" && (done["message"] as? String)?.contains("stopped") == true, "\(done)")
        let stoppedAt = try #require(done["step"] as? Int)
        #expect(stoppedAt < (events.first?["steps"] as? Int ?? 0), "the run was interrupted before its end")
        #expect(FileManager.default.fileExists(atPath: out + "/checkpoint-\(stoppedAt)/adapter_model.safetensors"))

        var shorter = arguments
        shorter[shorter.firstIndex(of: "30")!] = String(format: "%.4f", Double(stoppedAt + 2) * 8 / 1200)
        let resumed = try TailorProcess.run(shorter + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let firstStep = resumed.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        .first { $0["event"] as? String == "step" }
        #expect(firstStep?["step"] as? Int == stoppedAt + 1, "resume starts after the checkpoint")
    }

    @Test func maxLengthBeyondThePositionsIsCappedWithAWarning() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/test.jsonl"),
            "--max-length", "100", "--epochs", "0.05", "--output", folder.file("run"), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stderr
                == "tailor: warning: a maximum length of 100 exceeds the 64 positions \(TailorProcess.fixture("tiny-bert")) has for input tokens; truncating at 64\n"
        )
    }

    @Test func badTrainingInputsGiveOneLine() throws {
        let folder = TemporaryFolder()
        try Data(#"{"text": "no label here"}"#.utf8).write(to: URL(fileURLWithPath: folder.file("bad.jsonl")))
        let result = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", folder.file("bad.jsonl"),
            "--output", folder.file("out"),
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad.jsonl") && result.stderr.contains("label"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        let unknownModule = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/test.jsonl"),
            "--target-modules", "q_proj", "--output", folder.file("out2"),
        ])
        #expect(unknownModule.status == 1)
        #expect(unknownModule.stderr.contains("target_modules"))
    }
}
