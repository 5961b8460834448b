import Foundation
import Registry
import SafeTensors
import TailorTestSupport
import Testing

/// The whole suite runs on every backend: a folder, and a PostgreSQL database when the test
/// server is up (Scripts/test starts one).
@Suite struct AdapterStoreTests {
    static let adapterFiles = ["adapter_config.json", "adapter_model.safetensors", "adapter_labels.json"]

    /// Files Python PEFT wrote and files `tailor train` wrote come back byte for byte.
    @Test(
        arguments: ["peft/tiny-bert-lora", "peft/tiny-llama-dora", "peft/tailor-tiny-bert-prefix", "peft/tailor-tiny-bert-pissa"],
        TestRegistryKind.available)
    func exportIsByteIdentical(fixture: String, kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        let source = FixturePaths.path(fixture)
        let added = try store.add(folder: source, name: "sentiment", tags: ["best"])
        #expect(added.version == 1 && added.tags == ["best"] && added.tensorCount > 0)
        try store.export("sentiment@best", to: folder.file("out"))
        for name in Self.adapterFiles where FileManager.default.fileExists(atPath: source + "/" + name) {
            #expect(
                FileManager.default.contents(atPath: folder.file("out/" + name))
                    == FileManager.default.contents(atPath: source + "/" + name),
                "\(fixture)/\(name)")
        }
        #expect { try store.export("sentiment", to: folder.file("out")) } throws: { "\($0)".contains("already exists") }
    }

    @Test(arguments: TestRegistryKind.available) func versionsTagsAndRemoval(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a")
        try store.add(folder: FixturePaths.path("peft/tiny-bert-dora"), name: "a", tags: ["prod"])
        try store.add(folder: FixturePaths.path("peft/tiny-bert-ia3"), name: "b")
        #expect(try store.list().map { "\($0.name)@\($0.version)" } == ["a@1", "a@2", "b@1"])
        #expect(try store.show("a").version == 2)
        #expect(try store.show("a@prod").peftType == "LORA" && store.show("b").peftType == "IA3")
        try store.tag("a@1", as: "prod")
        #expect(try store.show("a@prod").version == 1, "a tag moves")
        #expect(throws: RegistryError.self) { try store.tag("a@1", as: "7") }
        try store.remove("a@1")
        #expect(try store.list().map { "\($0.name)@\($0.version)" } == ["a@2", "b@1"])
        #expect(throws: RegistryError.self) { try store.show("a@prod") }
        try store.remove("b")
        #expect(try store.list().map(\.name) == ["a"])
        #expect(try store.collectGarbage() > 0)
        try store.export("a", to: folder.file("out"))
        #expect(try store.verify() == ([], []))
    }

    @Test(arguments: TestRegistryKind.available) func aDifferentBaseIsRefusedUnlessForced(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        let added = try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a", base: FixturePaths.path("tiny-bert"))
        #expect(added.baseFingerprint == (try BaseFingerprint.compute(folder: FixturePaths.path("tiny-bert"))))
        try store.checkBase("a", modelFolder: FixturePaths.path("tiny-bert"), force: false)
        #expect { try store.checkBase("a", modelFolder: FixturePaths.path("tiny-llama"), force: false) } throws: {
            "\($0)".contains("not the base a@1") && "\($0)".contains("force it")
        }
        try store.checkBase("a", modelFolder: FixturePaths.path("tiny-llama"), force: true)
        // Same architecture, one weight changed: still another base.
        try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-bert"), toPath: folder.file("other-bert"))
        let weights = folder.file("other-bert/model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: weights)))
        bytes[bytes.count - 3] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: weights))
        #expect(throws: RegistryError.self) { try store.checkBase("a", modelFolder: folder.file("other-bert"), force: false) }
    }

    @Test(arguments: TestRegistryKind.available) func lossyStorageConvertsTheFactorsAndSaysSo(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        let lossless = try store.add(folder: FixturePaths.path("peft/tailor-tiny-bert-lora"), name: "a")
        let lossy = try store.add(folder: FixturePaths.path("peft/tailor-tiny-bert-lora"), name: "a", storeDType: .bf16)
        #expect(lossless.storedDType == nil && lossy.storedDType == "BF16")
        #expect(lossy.storedBytes < lossless.storedBytes)
        try store.export("a@2", to: folder.file("out"))
        let exported = try SafeTensorsFile(path: folder.file("out/adapter_model.safetensors"))
        #expect(exported.tensors.allSatisfy { $0.dtype == .bf16 })
        #expect(
            FileManager.default.contents(atPath: folder.file("out/adapter_config.json"))
                == FileManager.default.contents(atPath: FixturePaths.path("peft/tailor-tiny-bert-lora/adapter_config.json")))
        #expect(throws: RegistryError.self) { try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a", storeDType: .u8) }
    }

    /// int8 and nf4 keep codes and scales; export restores the original dtype and shapes, values
    /// within the codes' resolution.
    // Bounds: half an int8 step of the row scale; half NF4's widest codebook gap (-1 to -0.6962) of the block absmax.
    @Test(arguments: [(FactorQuantization.int8, Float(1) / 254), (.nf4, Float(0.152))], TestRegistryKind.available)
    func quantizedFactorsExportToTheirOwnDtype(quantization: (FactorQuantization, Float), kind: TestRegistryKind) throws {
        let (encoding, relativeError) = quantization
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        // The adapter's own files only: the fixture folder also holds test goldens, which add
        // would store (every file of a folder is kept) and which are not factors.
        let source = folder.file("adapter")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            try FileManager.default.copyItem(atPath: FixturePaths.path("peft/tiny-llama-lora/" + name), toPath: source + "/" + name)
        }
        let version = try store.add(folder: source, name: "q", quantize: encoding)
        #expect(version.storedDType == encoding.rawValue)
        #expect(version.storedBytes * (encoding == .nf4 ? 5 : 2) < version.rawBytes, "\(version.storedBytes) of \(version.rawBytes)")
        try store.export("q", to: folder.file("out"))
        let original = try SafeTensorsFile(path: source + "/adapter_model.safetensors")
        let restored = try SafeTensorsFile(path: folder.file("out/adapter_model.safetensors"))
        #expect(restored.tensors.map(\.name) == original.tensors.map(\.name))
        for info in original.tensors {
            let a = try original.view(of: info).floats(), b = try restored.tensor(info.name).floats()
            #expect(try restored.tensor(info.name).dtype == info.dtype && b.count == a.count)
            let scale = a.map { abs($0) }.max() ?? 0
            let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(error <= relativeError * scale + 1e-12, "\(info.name): error \(error) for absmax \(scale)")
        }
    }

    @Test(arguments: TestRegistryKind.available) func hostileNamesAreRefused(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        for name in ["../x", "a/b", "..", ".hidden", "", String(repeating: "x", count: 129), "a b"] {
            #expect(throws: RegistryError.self, "\(name)") { try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: name) }
        }
        #expect(throws: RegistryError.self) { try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "ok", tags: ["../t"]) }
        #expect(try store.list().isEmpty)
    }

    @Test(arguments: TestRegistryKind.available) func corruptionIsFoundByVerifyAndOnExport(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a")
        let victim = try Self.blobHashes(store)[0]
        try Self.corrupt(victim, in: store)
        #expect(try store.verify().corrupted == [victim])
        #expect { try store.export("a", to: folder.file("out")) } throws: { "\($0)".contains("corrupted") }
        #expect(!FileManager.default.fileExists(atPath: folder.file("out")), "no half-written export")
    }

    /// A blob that rotted on disk is not reused by a later add of the same content: the add
    /// writes it again, and the new version exports whole.
    @Test(arguments: TestRegistryKind.available) func aCorruptedBlobIsRewrittenNotReused(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        let source = FixturePaths.path("peft/tiny-bert-lora")
        try store.add(folder: source, name: "a")
        for hash in try Self.blobHashes(store) { try Self.corrupt(hash, in: store) }
        try store.add(folder: source, name: "b")
        try store.export("b", to: folder.file("out"))
        #expect(
            FileManager.default.contents(atPath: folder.file("out/adapter_model.safetensors"))
                == FileManager.default.contents(atPath: source + "/adapter_model.safetensors"))
        #expect(try store.verify().corrupted.isEmpty, "the rewritten blobs serve both versions")
    }

    /// Garbage collection running while adapters are added never removes a blob an add has
    /// written but not yet referenced: every version reported stored exports afterwards.
    @Test(arguments: TestRegistryKind.available) func gcDuringAddsLosesNothing(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let root = try kind.make(in: folder)
        _ = try AdapterStore(root: root)
        let failures = Counter()
        let adding = DispatchGroup()
        let done = Counter()
        // Each add has new content (a config that differs), so each writes fresh blobs.
        let sources = (0..<12).map { index -> String in
            let source = folder.file("adapter-\(index)")
            try? FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(
                atPath: FixturePaths.path("peft/tiny-bert-lora/adapter_model.safetensors"),
                toPath: source + "/adapter_model.safetensors")
            try? Data(
                ("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": \(index + 1), \"target_modules\": [\"query\", \"value\"]}").utf8
            )
            .write(to: URL(fileURLWithPath: source + "/adapter_config.json"))
            return source
        }
        DispatchQueue.global().async(group: adding) {
            do {
                let store = try AdapterStore(root: root)
                for (index, source) in sources.enumerated() { try store.add(folder: source, name: "a\(index)") }
            } catch { failures.add("add: \(error)") }
            done.add("done")
        }
        let collector = try AdapterStore(root: root)
        while done.values.isEmpty { _ = try collector.collectGarbage() }
        adding.wait()
        #expect(failures.values.isEmpty, "\(failures.values)")
        let store = try AdapterStore(root: root)
        for index in sources.indices { try store.export("a\(index)", to: folder.file("out-\(index)")) }
        #expect(try store.verify().missing.isEmpty)
    }

    /// Several writers at once (separate connections, as separate processes have): no version lost.
    @Test(arguments: TestRegistryKind.available) func concurrentAddsLoseNothing(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let root = try kind.make(in: folder)
        _ = try AdapterStore(root: root)
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            do {
                let store = try AdapterStore(root: root)
                for _ in 0..<3 { try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "shared", tags: ["w\(worker)"]) }
            } catch {
                failures.add("\(error)")
            }
        }
        #expect(failures.values.isEmpty, "\(failures.values)")
        #expect(try AdapterStore(root: root).list().map(\.version) == Array(1...12))
    }
}

extension AdapterStoreTests {
    /// Every stored blob's hash, read past the store (as a disk or a database administrator would).
    static func blobHashes(_ store: AdapterStore) throws -> [String] {
        if let folder = store.backend as? FolderRegistry { return try folder.blobs.hashes() }
        return try TestPostgres.psql(store.root, "SELECT hash FROM blob ORDER BY hash").split(separator: "\n").map(String.init)
    }

    /// Flips one bit in the middle of the blob's stored bytes.
    static func corrupt(_ hash: String, in store: AdapterStore) throws {
        if let folder = store.backend as? FolderRegistry {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.blobs.path(of: hash))))
            bytes[bytes.count / 2] ^= 0x10
            try Data(bytes).write(to: URL(fileURLWithPath: folder.blobs.path(of: hash)))
        } else {
            try TestPostgres.psql(
                store.root,
                "UPDATE blob_chunk SET data = set_byte(data, length(data) / 2, get_byte(data, length(data) / 2) # 16) "
                    + "WHERE hash = '\(hash)' AND seq = 0")
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ item: String) { lock.withLock { items.append(item) } }
    var values: [String] { lock.withLock { items } }
}
