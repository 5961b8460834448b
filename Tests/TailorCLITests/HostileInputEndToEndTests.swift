import Foundation
import SafeTensors
import Testing

/// Issue 11's hostile trial, item by item: each input that crashed, lost data or left files
/// behind now gives one error line (exit 1) or the documented behaviour.
@Suite struct HostileInputEndToEndTests {
    let tinyBert = TailorProcess.fixture("tiny-bert")
    let tinyLlama = TailorProcess.fixture("tiny-llama")
    let sentiment = TailorProcess.fixture("sentiment/train.jsonl")

    /// One error line on stderr, exit 1, no trap.
    func expectOneLineError(_ result: TailorProcess.Result, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("tailor: error:") }
        #expect(lines.count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "expected '\(text)' in: \(result.stderr)", sourceLocation: sourceLocation)
    }

    /// A copy of a fixture folder to change.
    func copy(_ fixture: String, to folder: TemporaryFolder, as name: String) throws -> String {
        let destination = folder.file(name)
        try FileManager.default.copyItem(atPath: TailorProcess.fixture(fixture), toPath: destination)
        return destination
    }

    /// Rewrites a safetensors file keeping the tensors `keep` accepts.
    func rewrite(_ file: String, keep: (String) -> Bool) throws {
        let checkpoint = try Checkpoint.open(file)
        let kept = try checkpoint.tensorNames.filter(keep).map { name in
            let view = try checkpoint.tensor(name)
            return TensorData(name: name, dtype: view.dtype, shape: view.shape, bytes: view.data)
        }
        try SafeTensorsWriter.write(kept, metadata: checkpoint.metadata, to: file)
    }

    /// Sets one field of a JSON object file.
    func edit(_ path: String, _ field: String, _ value: Any?) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        object[field] = value
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    /// Item 1: a quant state claiming 2^80 elements.
    @Test func hugeQuantStateShapeIsRefused() throws {
        let folder = TemporaryFolder()
        let model = try copy("tiny-bert-nf4", to: folder, as: "nf4")
        try FileManager.default.copyItem(atPath: tinyBert + "/tokenizer.json", toPath: model + "/tokenizer.json")
        let file = model + "/model.safetensors"
        let checkpoint = try Checkpoint.open(file)
        var tensors: [TensorData] = []
        var changed = false
        for name in checkpoint.tensorNames {
            let view = try checkpoint.tensor(name)
            var bytes = view.data
            if !changed, name.hasSuffix(".quant_state.bitsandbytes__nf4") {
                var text = String(decoding: bytes, as: UTF8.self)
                let range = try #require(text.range(of: #""shape": \[[0-9, ]*\]"#, options: .regularExpression))
                text.replaceSubrange(range, with: #""shape": [1099511627776, 1099511627776]"#)
                bytes = Array(text.utf8)
                changed = true
            }
            tensors.append(
                TensorData(
                    name: name, dtype: view.dtype, shape: name.contains("quant_state") ? [bytes.count] : view.shape,
                    bytes: bytes))
        }
        #expect(changed)
        try SafeTensorsWriter.write(tensors, metadata: checkpoint.metadata, to: file)
        for arguments in [
            ["inspect", model], ["dequantize", model, "--output", folder.file("out")], ["classify", "--model", model, "hello"],
        ] {
            expectOneLineError(try TailorProcess.run(arguments), mentioning: "shape")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("out")), "a failed dequantize leaves no folder")
    }

    /// Item 2: empty and malformed registry references.
    @Test func malformedReferencesAreOneError() throws {
        let folder = TemporaryFolder()
        let registry = folder.file("registry")
        let add = try TailorProcess.run([
            "adapter", "add", TailorProcess.fixture("peft/tiny-bert-lora"), "--name", "a", "--registry", registry,
        ])
        #expect(add.status == 0, "\(add.stderr)")
        for reference in ["", "@", "@@", "a@", "a@b@c"] {
            for command in [["adapter", "show"], ["adapter", "rm"], ["adapter", "export"]] {
                var arguments = command + [reference, "--registry", registry]
                if command[1] == "export" { arguments += ["--output", folder.file("out")] }
                expectOneLineError(try TailorProcess.run(arguments), mentioning: "NAME@TAG")
            }
            expectOneLineError(
                try TailorProcess.run(["adapter", "tag", reference, "prod", "--registry", registry]), mentioning: "NAME@TAG")
        }
        expectOneLineError(try TailorProcess.run(["adapter", "show", "@1", "--registry", registry]), mentioning: "name is missing")
        expectOneLineError(
            try TailorProcess.run(["classify", "--model", tinyBert, "--adapter", "", "--registry", registry, "hi"]),
            mentioning: "empty")
        expectOneLineError(try TailorProcess.run(["diff", "", "a", "--registry", registry]), mentioning: "empty")
        expectOneLineError(
            try TailorProcess.run(["merge", "@", "a", "--name", "m", "--registry", registry]), mentioning: "name is missing")
        let lines = folder.file("lines.jsonl")
        try #"{"text": "hi", "adapter": "@"}"#.write(toFile: lines, atomically: true, encoding: .utf8)
        expectOneLineError(
            try TailorProcess.run(["classify", "--model", tinyBert, "--input", lines, "--registry", registry]),
            mentioning: "name is missing")
        expectOneLineError(
            try TailorProcess.run([
                "adapter", "add", TailorProcess.fixture("peft/tiny-bert-lora"), "--name", "b", "--tag", "7",
                "--registry", registry,
            ]), mentioning: "is a number")
    }

    /// Item 3: more virtual tokens than the model has positions (tiny BERT: 64).
    @Test func virtualTokensBeyondThePositionTableAreRefused() throws {
        let folder = TemporaryFolder()
        for count in ["64", "70", "100000000"] {
            let result = try TailorProcess.run([
                "train", "--model", tinyBert, "--data", sentiment, "--method", "prompt", "--virtual-tokens", count,
                "--epochs", "0.01", "--output", folder.file("run"),
            ])
            expectOneLineError(result, mentioning: "max_position_embeddings 64")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("run")), "a failed run leaves no folder")
    }

    /// Item 4: a prompt far longer than the model's positions keeps its end, with a warning.
    @Test func longPromptsAreTruncatedFromTheLeft() throws {
        let prompt = Array(repeating: "the cat sat on the mat", count: 3000).joined(separator: " ")
        let result = try TailorProcess.run(["generate", "--model", tinyLlama, prompt, "--max-new-tokens", "4", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("were dropped"), "\(result.stderr)")
        let truncated = try #require(result.json?["truncated_prompt_tokens"] as? Int)
        #expect(truncated > 10_000)
        expectOneLineError(
            try TailorProcess.run(["generate", "--model", tinyLlama, "hi", "--max-new-tokens", "500"]), mentioning: "max_new_tokens")
    }

    /// Item 5: a checkpoint whose trainer state is out of range.
    @Test func corruptCheckpointStateIsRefusedOnResume() throws {
        let folder = TemporaryFolder()
        let out = folder.file("run")
        let arguments = [
            "train", "--model", tinyBert, "--data", sentiment, "--method", "lora", "--epochs", "0.02", "--batch-size", "8",
            "--save-steps", "1", "--output", out,
        ]
        let first = try TailorProcess.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("checkpoint-") }
        let latest = try #require(checkpoints.max { Int($0.dropFirst(11))! < Int($1.dropFirst(11))! })
        let statePath = out + "/" + latest + "/trainer_state.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: statePath))
        for (field, value) in [("globalStep", -5), ("microStep", 99_999_999), ("epoch", -1), ("bestCheckpoint", "../../etc")]
            as [(String, Any)]
        {
            try original.write(to: URL(fileURLWithPath: statePath))
            try edit(statePath, field, value)
            expectOneLineError(try TailorProcess.run(arguments + ["--resume"]), mentioning: "trainer_state.json")
        }
    }

    /// Item 7: outputs that are the input, directly or through a symlink.
    @Test func outputsAliasingTheInputAreRefused() throws {
        let folder = TemporaryFolder()
        let model = try copy("tiny-bert", to: folder, as: "model")
        let link = folder.file("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: model)
        let before = try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors"))
        expectOneLineError(try TailorProcess.run(["quantize", model, "--output", link]), mentioning: "overwrite the input")
        expectOneLineError(try TailorProcess.run(["convert", model, link, "--dtype", "bf16"]), mentioning: "overwrite the input")
        expectOneLineError(
            try TailorProcess.run(["convert", model + "/model.safetensors", link + "/model.safetensors", "--dtype", "bf16"]),
            mentioning: "overwrite the input")
        expectOneLineError(
            try TailorProcess.run(["train", "--model", model, "--data", sentiment, "--method", "full", "--output", link]),
            mentioning: "overwrite the input")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors")) == before)
        #expect(FileManager.default.fileExists(atPath: model + "/tokenizer.json"))
    }

    /// Item 8: devices and FIFOs as outputs.
    @Test func nonRegularOutputsAreRefused() throws {
        let folder = TemporaryFolder()
        let fifo = folder.file("fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        let deviceLink = folder.file("full-link")
        try FileManager.default.createSymbolicLink(atPath: deviceLink, withDestinationPath: "/dev/null")
        for target in [fifo, deviceLink, "/dev/null"] {
            expectOneLineError(
                try TailorProcess.run(["convert", tinyBert + "/model.safetensors", target, "--dtype", "bf16"]),
                mentioning: "not a regular file")
        }
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "/dev/null is still a device")
    }

    /// Item 10: an earlier result is kept unless --overwrite; stale temporary files go.
    @Test func earlierResultsNeedOverwriteAndStaleTemporaryFilesGo() throws {
        let folder = TemporaryFolder()
        let out = folder.file("nf4")
        #expect(try TailorProcess.run(["quantize", tinyBert, "--output", out]).status == 0)
        expectOneLineError(try TailorProcess.run(["quantize", tinyBert, "--output", out]), mentioning: "allow overwriting")
        let stale = out + "/.model.safetensors.999999999.1.tmp"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data(count: 1000)))
        try Data("old".utf8).write(to: URL(fileURLWithPath: out + "/model-00002-of-00002.safetensors"))
        let again = try TailorProcess.run(["quantize", tinyBert, "--output", out, "--overwrite"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale), "a dead process's temporary file is removed")
        #expect(!FileManager.default.fileExists(atPath: out + "/model-00002-of-00002.safetensors"), "old shards are removed")
        let failed = try TailorProcess.run(["quantize", TailorProcess.fixture("tiny-bert-nf4"), "--output", folder.file("never")])
        #expect(failed.status == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.file("never")), "a failed command leaves no empty folder")
    }

    /// Item 10: SIGINT or SIGTERM in the middle of a write removes its temporary file and exits
    /// 128 + the signal. The input is big enough (64 × 2 MB tensors) that the write is caught.
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalMidWriteLeavesNoTemporaryFile(signal: Int32) throws {
        let folder = TemporaryFolder()
        let input = folder.file("big.safetensors")
        let tensors = (0..<64).map {
            TensorData(name: "w\($0)", dtype: .f32, shape: [512, 1024], bytes: [UInt8](repeating: UInt8($0), count: 1 << 21))
        }
        try SafeTensorsWriter.write(tensors, to: input)
        let out = folder.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for _ in 0..<5 {
            let process = Process()
            process.executableURL = TailorProcess.executable
            process.arguments = ["convert", input, out + "/big-bf16.safetensors", "--dtype", "bf16", "--overwrite"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var sawTemporary = false
            while process.isRunning, !sawTemporary {
                sawTemporary = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { $0.hasSuffix(".tmp") }
            }
            if sawTemporary { kill(process.processIdentifier, signal) }
            process.waitUntilExit()
            // Finished before we looked, or between the rename and the exit: try again.
            guard sawTemporary, process.terminationStatus != 0 else { continue }
            #expect(process.terminationStatus == 128 + signal)
            #expect(try FileManager.default.contentsOfDirectory(atPath: out).allSatisfy { !$0.hasSuffix(".tmp") }, "no temporary file left")
            return
        }
        Issue.record("the conversion always finished before a signal could reach it")
    }

    /// Item 11: a reused --output needs --overwrite, which starts afresh.
    @Test func reusedTrainingOutputDoesNotMixRuns() throws {
        let folder = TemporaryFolder()
        let out = folder.file("run")
        let arguments = [
            "train", "--model", tinyBert, "--data", sentiment, "--method", "lora", "--epochs", "0.02", "--save-steps", "1",
            "--output", out,
        ]
        #expect(try TailorProcess.run(arguments).status == 0)
        try FileManager.default.createDirectory(atPath: out + "/checkpoint-9999", withIntermediateDirectories: true)
        expectOneLineError(try TailorProcess.run(arguments), mentioning: "allow overwriting")
        let again = try TailorProcess.run(arguments + ["--overwrite"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/checkpoint-9999"), "the earlier run's checkpoints are gone")
    }

    /// Item 12: --json never prints NaN, and errors are JSON too.
    @Test func jsonErrorsAreJSONObjects() throws {
        let result = try TailorProcess.run(["inspect", "/nonexistent/model.safetensors", "--json"])
        #expect(result.status == 1)
        let error = try #require(result.json?["error"] as? [String: Any], "\(result.stdout)")
        #expect((error["message"] as? String)?.contains("nonexistent") == true)
        #expect(error["file"] as? String == "/nonexistent/model.safetensors")
        let usage = try TailorProcess.run(["train", "--model", tinyBert, "--data", sentiment, "--output", "x", "--lr", "nan", "--json"])
        #expect(usage.status != 0)
        #expect((usage.json?["error"] as? [String: Any])?["message"] as? String != nil, "\(usage.stdout)")
    }

    /// Item 13: CRLF files, invalid UTF-8, and things that are not files.
    @Test func textInputsAreReadOrNamed() throws {
        let folder = TemporaryFolder()
        let crlf = folder.file("crlf.jsonl")
        try "{\"text\": \"good\"}\r\n{\"text\": \"bad\"}\r\n".write(toFile: crlf, atomically: true, encoding: .utf8)
        let classified = try TailorProcess.run(["classify", "--model", tinyBert, "--input", crlf, "--json"])
        #expect(classified.status == 0, "\(classified.stderr)")
        #expect(classified.stdout.split(separator: "\n").count == 2)
        let broken = folder.file("broken.jsonl")
        try Data("{\"text\": \"a\"}\n{\"text\": \"\u{FF}\"}\n".utf8.map { $0 == 0xC3 ? 0xFF : $0 }).write(to: URL(fileURLWithPath: broken))
        expectOneLineError(
            try TailorProcess.run(["classify", "--model", tinyBert, "--input", broken]), mentioning: "line 2 is not valid UTF-8")
        expectOneLineError(try TailorProcess.run(["classify", "--model", tinyBert, "--input", folder.path]), mentioning: "is a folder")
        expectOneLineError(
            try TailorProcess.run(["train", "--model", tinyBert, "--data", "/dev/null", "--output", folder.file("r")]),
            mentioning: "not a regular file")
    }

    /// Found by hand: one-character paths trapped in Foundation, and a FIFO given as a
    /// checkpoint blocked forever.
    @Test func oneCharacterPathsAndFIFOInputs() throws {
        let folder = TemporaryFolder()
        #expect(mkfifo(folder.file("f"), 0o644) == 0)
        expectOneLineError(
            try TailorProcess.run(["train", "--model", tinyBert, "--data", "f", "--output", "o"], in: folder.path),
            mentioning: "not a regular file")
        for command in ["inspect", "verify"] {
            expectOneLineError(try TailorProcess.run([command, "f"], in: folder.path), mentioning: "not a regular file")
        }
        let converted = try TailorProcess.run(["convert", tinyBert + "/model.safetensors", "o", "--dtype", "bf16"], in: folder.path)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.file("o")))
        #expect(try TailorProcess.run(["quantize", tinyBert, "--output", "q"], in: folder.path).status == 0)
    }

    /// Found by fuzzing review: training looked up token ids past the embedding table when the
    /// tokenizer belongs to a bigger model (an out-of-bounds read); now refused up front.
    @Test func aTokenizerOfAnotherModelIsRefused() throws {
        let folder = TemporaryFolder()
        let model = try copy("tiny-llama", to: folder, as: "llama")
        try FileManager.default.removeItem(atPath: model + "/tokenizer.json")
        try FileManager.default.copyItem(atPath: tinyBert + "/tokenizer.json", toPath: model + "/tokenizer.json")
        for arguments in [
            ["train", "--model", model, "--data", sentiment, "--epochs", "0.01", "--output", folder.file("r")],
            ["eval", "--model", model, "--data", sentiment],
        ] {
            expectOneLineError(try TailorProcess.run(arguments), mentioning: "outside the model's vocabulary of 384")
        }
    }

    /// Item 14: option values outside their range, and datasets that cannot train.
    @Test func optionsAndDatasetsAreCheckedUpFront() throws {
        let folder = TemporaryFolder()
        let base = ["train", "--model", tinyBert, "--data", sentiment, "--output", folder.file("r")]
        for (option, value) in [
            ("--lora-dropout", "1"), ("--virtual-tokens", "0"), ("--bottleneck-size", "0"), ("--lr", "nan"),
            ("--lr", "-1"), ("--alpha", "nan"), ("--max-grad-norm", "-1"), ("--max-length", "0"), ("--epochs", "1e300"),
        ] {
            let result = try TailorProcess.run(base + [option, value])
            #expect(result.status != 0 && result.stderr.contains(option), "\(option) \(value): \(result.stderr)")
        }
        let regex = try TailorProcess.run(base + ["--target-modules", "re:(("])
        #expect(regex.status != 0 && regex.stderr.contains("invalid regex"), "\(regex.stderr)")
        let tag = try TailorProcess.run(base + ["--register", "x", "--register-tag", "3"])
        #expect(tag.status != 0 && tag.stderr.contains("is a number"), "\(tag.stderr)")
        let temperature = try TailorProcess.run(["generate", "--model", tinyLlama, "hi", "--temperature", "nan"])
        #expect(temperature.status != 0 && temperature.stderr.contains("--temperature"))
        for (name, content, problem) in [
            ("one.jsonl", #"{"text": "a", "label": "x"}"#, "at least 2"),
            ("same.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"x\"}", "2 labels"),
            ("empty.jsonl", "{\"text\": \"a\", \"label\": \"\"}\n{\"text\": \"b\", \"label\": \"y\"}", "empty label"),
        ] {
            let data = folder.file(name)
            try content.write(toFile: data, atomically: true, encoding: .utf8)
            expectOneLineError(
                try TailorProcess.run(["train", "--model", tinyBert, "--data", data, "--output", folder.file("r")]), mentioning: problem)
        }
    }

    /// Item 15: adapter configs with broken fields.
    @Test func brokenAdapterConfigsNameTheField() throws {
        let folder = TemporaryFolder()
        for (index, (field, value))
            in ([
                ("lora_alpha", "eight"), ("lora_alpha", true), ("r", 0), ("target_modules", "(("),
                ("lora_dropout", 1.5),
            ] as [(String, Any)]).enumerated()
        {
            let adapter = try copy("peft/tiny-bert-lora", to: folder, as: "adapter-\(index)")
            try edit(adapter + "/adapter_config.json", field, value)
            expectOneLineError(
                try TailorProcess.run(["classify", "--model", tinyBert, "--adapter", adapter, "hi"]), mentioning: "\"\(field)\"")
        }
        // modules_to_save names the classifier, but the file lacks its tensors.
        let adapter = try copy("peft/tiny-bert-lora", to: folder, as: "headless")
        try rewrite(adapter + "/adapter_model.safetensors") { !$0.contains("classifier") }
        expectOneLineError(
            try TailorProcess.run(["classify", "--model", tinyBert, "--adapter", adapter, "hi"]), mentioning: "modules_to_save")
    }

    /// Item 16: a model without a trained head is classified with a warning.
    @Test func untrainedHeadsAreWarnedAbout() throws {
        let folder = TemporaryFolder()
        let model = try copy("tiny-bert", to: folder, as: "embedding-model")
        try rewrite(model + "/model.safetensors") { !$0.hasPrefix("classifier") }
        let result = try TailorProcess.run(["classify", "--model", model, "hello"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("no trained classification head"), "\(result.stderr)")
        let trained = try TailorProcess.run([
            "classify", "--model", model, "--adapter", TailorProcess.fixture("peft/tiny-bert-lora"), "hello",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(!trained.stderr.contains("no trained classification head"), "\(trained.stderr)")
        #expect(!(try TailorProcess.run(["classify", "--model", tinyBert, "hello"])).stderr.contains("classification head"))
    }

    /// Item 17: adapters of different architectures, and stack weights that overflow.
    @Test func crossArchitectureMergesAndOverflowsAreRefused() throws {
        let folder = TemporaryFolder()
        let bert = TailorProcess.fixture("peft/tiny-bert-lora"), llama = TailorProcess.fixture("peft/tiny-llama-lora")
        expectOneLineError(
            try TailorProcess.run(["merge", bert, llama, "--output", folder.file("m")]), mentioning: "different model architectures")
        expectOneLineError(try TailorProcess.run(["diff", bert, llama]), mentioning: "different model architectures")
        // Huge merge weights either fail in one line or give finite factors: never an infinite tensor.
        let huge = try TailorProcess.run([
            "merge", bert, bert, "--weights", "3e38,3e38", "--head-from", "1",
            "--output", folder.file("h"),
        ])
        if huge.status == 0 {
            let merged = try Checkpoint.open(folder.file("h/adapter_model.safetensors"))
            for name in merged.tensorNames { #expect(try merged.tensor(name).floats().allSatisfy(\.isFinite), "\(name)") }
        } else {
            expectOneLineError(huge, mentioning: "overflow")
        }
        expectOneLineError(
            try TailorProcess.run(["merge", "--into-base", "--model", tinyBert, bert + ":1e38", "--output", folder.file("d")]),
            mentioning: "overflow")
        #expect(!FileManager.default.fileExists(atPath: folder.file("m")) && !FileManager.default.fileExists(atPath: folder.file("d")))
    }

    /// Item 18: every file of an added folder comes back on export.
    @Test func exportGivesBackEveryFile() throws {
        let folder = TemporaryFolder()
        let registry = folder.file("registry")
        let adapter = try copy("peft/tiny-bert-lora", to: folder, as: "adapter")
        try "# my adapter\n".write(toFile: adapter + "/README.md", atomically: true, encoding: .utf8)
        try "notes".write(toFile: adapter + "/NOTES.txt", atomically: true, encoding: .utf8)
        #expect(try TailorProcess.run(["adapter", "add", adapter, "--name", "a", "--registry", registry]).status == 0)
        #expect(try TailorProcess.run(["adapter", "export", "a", "--output", folder.file("out"), "--registry", registry]).status == 0)
        for name in try FileManager.default.contentsOfDirectory(atPath: adapter) {
            #expect(
                FileManager.default.contents(atPath: folder.file("out/" + name))
                    == FileManager.default.contents(atPath: adapter + "/" + name),
                "\(name)")
        }
    }
}
