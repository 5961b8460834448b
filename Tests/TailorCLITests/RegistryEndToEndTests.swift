import Foundation
import TailorTestSupport
import Testing

/// The registry tests that name no folder run against every backend (a folder, and PostgreSQL
/// when the test server is up).
@Suite struct RegistryEndToEndTests {
    @Test(arguments: TestRegistryKind.available) func trainRegisterListExportVerify(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let registry = try kind.make(in: folder)
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--method", "lora", "--r", "4", "--target-modules", "query,value", "--modules-to-save", "classifier",
            "--epochs", "0.05", "--output", folder.file("run"), "--register", "sentiment", "--register-tag", "best",
            "--registry", registry, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains(#""event":"registered""#))
        let list = try TailorProcess.run(["adapter", "list", "--registry", registry, "--json"])
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(versions.count == 1 && versions[0]["name"] as? String == "sentiment" && versions[0]["tags"] as? [String] == ["best"])
        let export = try TailorProcess.run(["adapter", "export", "sentiment@best", "--output", folder.file("out"), "--registry", registry])
        #expect(export.status == 0, "\(export.stderr)")
        for name in ["adapter_config.json", "adapter_model.safetensors", "adapter_labels.json"] {
            #expect(
                FileManager.default.contents(atPath: folder.file("out/" + name))
                    == FileManager.default.contents(atPath: folder.file("run/" + name)), "\(name)")
        }
        let classify = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", folder.file("out"), "lovely", "--json",
        ])
        #expect(classify.status == 0, "\(classify.stderr)")
        // Straight from the registry, checked against the base it was trained on.
        let fromRegistry = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", "sentiment@best",
            "--registry", registry, "lovely", "--json",
        ])
        #expect(fromRegistry.status == 0, "\(fromRegistry.stderr)")
        #expect(fromRegistry.json?["logits"] as? [Double] == classify.json?["logits"] as? [Double])
        try FileManager.default.copyItem(atPath: TailorProcess.fixture("tiny-bert"), toPath: folder.file("other-bert"))
        let weights = folder.file("other-bert/model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: weights)))
        bytes[bytes.count - 3] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: weights))
        let otherBase = try TailorProcess.run([
            "classify", "--model", folder.file("other-bert"), "--adapter", "sentiment", "--registry", registry, "lovely",
        ])
        #expect(
            otherBase.status == 1 && otherBase.stderr.contains("force it") && otherBase.stderr.split(separator: "\n").count == 1,
            "\(otherBase.stderr)")
        let forced = try TailorProcess.run([
            "classify", "--model", folder.file("other-bert"), "--adapter", "sentiment", "--registry", registry,
            "--force", "lovely",
        ])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try TailorProcess.run(["registry", "verify", "--registry", registry]).status == 0)
        let hostile = try TailorProcess.run(["adapter", "add", folder.file("run"), "--name", "../escape", "--registry", registry])
        #expect(hostile.status == 1 && hostile.stderr.split(separator: "\n").count == 1)
        #expect(
            try TailorProcess.run([
                "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
                "--method", "full", "--register", "x", "--output", folder.file("full"),
            ]).status != 0)
    }

    @Test func lossyStorageReportsTheLogitChange() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run([
            "adapter", "add", TailorProcess.fixture("peft/tailor-tiny-llama-lora"), "--name", "l", "--store-dtype", "bf16",
            "--base", TailorProcess.fixture("tiny-llama"), "--registry", folder.file("registry"), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["stored_dtype"] as? String == "BF16")
        let change = try #require(result.json?["max_logit_change"] as? Double)
        #expect(change > 0 && change < 1e-2, "bf16 rounding moves the logits a little: \(change)")
    }

    /// `tailor merge --into-base` from a registry reference: a plain model folder with the adapted logits.
    @Test func mergeIntoBaseFromTheRegistry() throws {
        let folder = TemporaryFolder()
        let registry = folder.file("registry")
        #expect(
            try TailorProcess.run([
                "adapter", "add", TailorProcess.fixture("peft/tailor-tiny-bert-dora"), "--name", "d",
                "--base", TailorProcess.fixture("tiny-bert"), "--registry", registry,
            ]).status == 0)
        let merge = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-bert"), "--adapter", "d",
            "--registry", registry, "--output", folder.file("merged"), "--json",
        ])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect((merge.json?["max_logit_difference"] as? Double).map { $0 < 1e-4 } == true)
        let classify = try TailorProcess.run(["classify", "--model", folder.file("merged"), "lovely", "--json"])
        let adapted = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "--adapter",
            TailorProcess.fixture("peft/tailor-tiny-bert-dora"), "lovely", "--json",
        ])
        #expect(classify.json?["label"] as? String == adapted.json?["label"] as? String)
        let logits = zip(classify.json?["logits"] as? [Double] ?? [], adapted.json?["logits"] as? [Double] ?? [1]).map { abs($0 - $1) }
        #expect(!logits.isEmpty && logits.allSatisfy { $0 < 1e-4 }, "\(logits)")
        // Into a new adapter, a DoRA update needs the base it depends on.
        let withoutBase = try TailorProcess.run(["merge", "d", "--registry", registry, "--output", folder.file("x")])
        #expect(
            withoutBase.status != 0 && withoutBase.stderr.contains("base model folder")
                && !FileManager.default.fileExists(atPath: folder.file("x")))
    }

    @Test func mergeIntoAnNF4Base() throws {
        let folder = TemporaryFolder()
        let merge = try TailorProcess.run([
            "merge", "--into-base", "--model", TailorProcess.fixture("tiny-llama"), "--adapter",
            TailorProcess.fixture("peft/tailor-tiny-llama-lora"), "--dtype", "nf4", "--output", folder.file("q"), "--json",
        ])
        #expect(merge.status == 0, "\(merge.stderr)")
        let error = try #require(merge.json?["max_logit_difference"] as? Double)
        #expect(error > 0 && error < 1, "4-bit rounding moves the logits a little: \(error)")
        let inspect = try TailorProcess.run(["inspect", folder.file("q")])
        #expect(inspect.stdout.contains("bitsandbytes 4-bit checkpoint (nf4"))
    }

    /// Eight `tailor adapter add` processes at once: eight versions, none lost.
    @Test(arguments: TestRegistryKind.available) func concurrentProcessesLoseNoVersion(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let registry = try kind.make(in: folder)
        let processes = try (0..<8).map { index -> Process in
            let process = Process()
            process.executableURL = TailorProcess.executable
            process.arguments = [
                "adapter", "add", TailorProcess.fixture(index % 2 == 0 ? "peft/tiny-bert-lora" : "peft/tiny-llama-dora"),
                "--name", "shared", "--tag", "p\(index)", "--registry", registry,
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let list = try TailorProcess.run(["adapter", "list", "--registry", registry, "--json"])
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(versions.compactMap { $0["version"] as? Int } == Array(1...8))
        #expect(Set(versions.flatMap { $0["tags"] as? [String] ?? [] }) == Set((0..<8).map { "p\($0)" }))
    }

    /// `adapter add` killed at random moments: the registry stays valid, each version whole or absent.
    @Test(arguments: TestRegistryKind.available) func killedAddsLeaveAValidRegistry(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let registry = try kind.make(in: folder)
        #expect(
            try TailorProcess.run(["adapter", "add", TailorProcess.fixture("peft/tiny-llama-lora"), "--name", "a", "--registry", registry])
                .status == 0)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let process = Process()
            process.executableURL = TailorProcess.executable
            process.arguments = ["adapter", "add", TailorProcess.fixture("peft/tiny-llama-lora"), "--name", "a", "--registry", registry]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0...40_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let verify = try TailorProcess.run(["registry", "verify", "--registry", registry, "--json"])
        #expect(verify.status == 0, "\(verify.stdout)")
        let list = try TailorProcess.run(["adapter", "list", "--registry", registry, "--json"])
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(!versions.isEmpty)
        for version in versions {
            let reference = "a@\(version["version"] as! Int)"
            let out = folder.file("export-\(reference)")
            let export = try TailorProcess.run(["adapter", "export", reference, "--output", out, "--registry", registry])
            #expect(export.status == 0, "\(reference): \(export.stderr)")
            #expect(
                FileManager.default.contents(atPath: out + "/adapter_model.safetensors")
                    == FileManager.default.contents(atPath: TailorProcess.fixture("peft/tiny-llama-lora/adapter_model.safetensors")))
        }
        #expect(try TailorProcess.run(["registry", "gc", "--registry", registry]).status == 0)
        #expect(try TailorProcess.run(["registry", "verify", "--registry", registry]).status == 0)
    }

    /// show, tag and rm as a user drives them, checked through list and show.
    @Test(arguments: TestRegistryKind.available) func showTagAndRemove(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let registry = ["--registry", try kind.make(in: folder)]
        let source = TailorProcess.fixture("peft/tiny-bert-lora")
        for _ in 0..<2 { #expect(try TailorProcess.run(["adapter", "add", source, "--name", "a"] + registry).status == 0) }
        let show = try TailorProcess.run(["adapter", "show", "a@1", "--json"] + registry)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.json?["name"] as? String == "a" && show.json?["version"] as? Int == 1)
        let latest = try TailorProcess.run(["adapter", "show", "a", "--json"] + registry)
        #expect(latest.json?["version"] as? Int == 2, "NAME alone is the latest version")
        let tag = try TailorProcess.run(["adapter", "tag", "a@1", "prod", "--json"] + registry)
        #expect(tag.status == 0 && tag.json?["version"] as? Int == 1, "\(tag.stderr)")
        #expect(try TailorProcess.run(["adapter", "show", "a@prod", "--json"] + registry).json?["tags"] as? [String] == ["prod"])
        let moved = try TailorProcess.run(["adapter", "tag", "a@2", "prod", "--json"] + registry)
        #expect(moved.json?["version"] as? Int == 2, "a tag moves")
        #expect(try TailorProcess.run(["adapter", "rm", "a@prod"] + registry).status == 0)
        let list = try TailorProcess.run(["adapter", "list", "--json"] + registry)
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(versions.compactMap { $0["version"] as? Int } == [1])
        #expect(try TailorProcess.run(["adapter", "show", "a@prod"] + registry).status == 1, "the tag went with its version")
        #expect(try TailorProcess.run(["adapter", "rm", "a"] + registry).status == 0)
        #expect(
            try TailorProcess.run(["adapter", "list", "--json"] + registry).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    /// bench switch: loads from folders and the registry, reports every figure.
    @Test func benchSwitchReportsLoadSwitchAndThroughput() throws {
        let folder = TemporaryFolder()
        let registry = ["--registry", folder.file("registry")]
        #expect(
            try TailorProcess.run(["adapter", "add", TailorProcess.fixture("peft/tiny-bert-ia3"), "--name", "ia3"] + registry).status == 0)
        let result = try TailorProcess.run(
            [
                "bench", "switch", "--model", TailorProcess.fixture("tiny-bert"), "--adapter",
                TailorProcess.fixture("peft/tiny-bert-lora"), "--adapter", "ia3", "--batch", "4", "--seq", "16",
                "--steps", "2", "--json",
            ] + registry)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(result.json)
        #expect(json["adapters"] as? Int == 2)
        #expect((json["load_seconds"] as? [Double])?.count == 2)
        for key in ["switch_seconds", "single_tokens_per_s", "mixed_tokens_per_s", "merge_seconds"] {
            #expect((json[key] as? Double ?? -1) > 0, "\(key)")
        }
    }
}
