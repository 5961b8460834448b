import Foundation
import Registry
import SafeTensors
import TailorTestSupport
import Testing

/// What a team's shared registry adds to the folder one: URLs, transactions, large blobs in
/// pieces, migrations, and sync between any two registries.
@Suite struct SharedRegistryTests {
    @Test func urlsParseAndHideTheirPassword() throws {
        let full = try PostgresLocation(url: "postgres://ml:s3cret@db.internal:6543/adapters?sslmode=require", environment: [:])
        #expect(full.host == "db.internal" && full.port == 6543 && full.user == "ml" && full.password == "s3cret")
        #expect(full.database == "adapters" && full.tls == .require && full.display == "postgres://ml@db.internal:6543/adapters")
        let short = try PostgresLocation(url: "postgresql://db", environment: ["USER": "ana", "PGPASSWORD": "pw"])
        #expect(short.port == 5432 && short.user == "ana" && short.database == "ana" && short.password == "pw" && short.tls == .disable)
        for bad in [
            "postgres://", "postgres://h/a/b", "postgres://h:0/d", "postgres://h/d?sslmode=maybe", "postgres://h/d?x=1", "mysql://h/d",
        ] {
            #expect(throws: RegistryError.self, "\(bad)") { try PostgresLocation(url: bad, environment: [:]) }
        }
        #expect { try PostgresLocation(url: "postgres://u:hunter2@h/d?sslmode=x", environment: [:]) } throws: {
            !"\($0)".contains("hunter2")
        }
    }

    @Test func anUnreachableServerIsOneLine() throws {
        #expect { try AdapterStore(root: "postgres://tailor@127.0.0.1:1/none") } throws: { error in
            let text = "\(error)"
            return text.contains("postgres://tailor@127.0.0.1:1/none") && text.contains("connection refused") && !text.contains("\n")
        }
    }

    /// An add that fails after storing blobs leaves no version and no number used; on PostgreSQL
    /// not even its blobs (the add is one transaction).
    @Test(arguments: TestRegistryKind.available)
    func aFailedAddLeavesNoGapAndNoVersion(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let store = try AdapterStore(root: kind.make(in: folder))
        let blobsBefore = try AdapterStoreTests.blobHashes(store)
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try store.backend.add(name: "a", number: nil, tags: ["t"]) { sink in
                _ = try sink.put([1, 2, 3, 4])
                throw Interrupted()
            }
        }
        #expect(try store.list().isEmpty)
        if kind == .postgres { #expect(try AdapterStoreTests.blobHashes(store) == blobsBefore) }
        #expect(try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a").version == 1)
        #expect { try store.backend.add(name: "a", number: 1, tags: []) { _ in throw Interrupted() } } throws: { _ in true }
        #expect(throws: RegistryError.self) {
            try store.backend.add(name: "a", number: 1, tags: []) { _ in
                NewVersion(
                    created: Date(), peftType: "LORA", config: "{}", rawBytes: 0, storedBytes: 0, files: [])
            }
        }
        #expect(try store.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a").version == 2)
    }

    /// A tensor larger than a chunk row (1 MiB) is stored in several rows and comes back whole.
    @Test(arguments: TestRegistryKind.available)
    func aLargeAdapterRoundTrips(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let source = folder.file("big")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let values = (0..<(1 << 20)).map { _ in Float.random(in: -1...1, using: &generator) }
        try SafeTensorsWriter.write(
            [TensorData(name: "base_model.model.layer.lora_A.weight", shape: [1024, 1024], floats: values)],
            to: source + "/adapter_model.safetensors")
        try Data(#"{"peft_type": "LORA", "r": 1024, "target_modules": ["layer"]}"#.utf8)
            .write(to: URL(fileURLWithPath: source + "/adapter_config.json"))
        let store = try AdapterStore(root: kind.make(in: folder))
        let version = try store.add(folder: source, name: "big")
        #expect(version.storedBytes > 3 << 20, "random floats hardly compress")
        if kind == .postgres {
            let rows = try TestPostgres.psql(store.root, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM blob_chunk GROUP BY hash) c")
            #expect((Int(rows) ?? 0) >= 3, "one tensor in \(rows) rows")
        }
        try store.export("big", to: folder.file("out"))
        #expect(
            FileManager.default.contents(atPath: folder.file("out/adapter_model.safetensors"))
                == FileManager.default.contents(atPath: source + "/adapter_model.safetensors"))
    }

    /// Folder → PostgreSQL → folder: numbers, tags and bytes kept; a second run copies nothing;
    /// a version that differs under the same number is a conflict, not overwritten.
    @Test(.enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipMessage)))
    func syncCopiesBothWaysAndIsIdempotent() throws {
        let folder = TemporaryFolder()
        let local = try AdapterStore(root: folder.file("local"))
        try local.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a", tags: ["prod"])
        try local.add(folder: FixturePaths.path("peft/tiny-llama-dora"), name: "a")
        try local.add(folder: FixturePaths.path("peft/tiny-bert-ia3"), name: "b", storeDType: .bf16)
        try local.remove("a@1")
        try local.tag("a@2", as: "prod")
        let shared = try AdapterStore(root: TestPostgres.newDatabase())
        let first = try RegistrySync.run(from: local, to: shared)
        #expect(first.copied == ["a@2", "b@1"] && first.tagged == ["a@prod"] && first.conflicts.isEmpty)
        let again = try RegistrySync.run(from: local, to: shared)
        #expect(again.copied.isEmpty && again.tagged.isEmpty && again.unchanged == 2)
        let back = try AdapterStore(root: folder.file("back"))
        #expect(try RegistrySync.run(from: shared, to: back).copied == ["a@2", "b@1"])
        for store in [shared, back] {
            let versions = try store.list()
            #expect(versions.map { "\($0.name)@\($0.version)" } == ["a@2", "b@1"])
            #expect(versions.map(\.tags) == [["prod"], []] && versions[1].storedDType == "BF16")
            #expect(try store.files("a@prod") == local.files("a@2"))
            #expect(try store.verify() == ([], []))
        }
        // Numbers stay the source's: the next add after a@2 is a@3 everywhere.
        #expect(try back.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a").version == 3)
        // a@3 now differs between back and a new local a@3.
        try local.add(folder: FixturePaths.path("peft/tiny-bert-ia3"), name: "a")
        let conflicting = try RegistrySync.run(from: local, to: back)
        #expect(conflicting.conflicts == ["a@3"] && conflicting.copied.isEmpty)
        #expect(try back.show("a@3").peftType == "LORA", "not overwritten")
    }

    /// Two syncs into one registry at once: whichever stores a version second finds it there
    /// with the same files, and both finish without error.
    @Test(arguments: TestRegistryKind.available)
    func concurrentSyncsBothSucceed(kind: TestRegistryKind) throws {
        let folder = TemporaryFolder()
        let sourceRoot = folder.file("source")
        let source = try AdapterStore(root: sourceRoot)
        for name in ["a", "b", "c"] {
            try source.add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: name, tags: ["prod"])
            try source.add(folder: FixturePaths.path("peft/tiny-llama-dora"), name: name)
        }
        let destination = try kind.make(in: folder, name: "destination")
        _ = try AdapterStore(root: destination)
        let reports = Counter(), failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            do {
                let report = try RegistrySync.run(from: AdapterStore(root: sourceRoot), to: AdapterStore(root: destination))
                reports.add("\(report.copied.count + report.unchanged) \(report.conflicts.count)")
            } catch { failures.add("\(error)") }
        }
        #expect(failures.values.isEmpty, "\(failures.values)")
        #expect(reports.values == ["6 0", "6 0"])
        let landed = try AdapterStore(root: destination)
        #expect(try landed.list().map { "\($0.name)@\($0.version)" } == ["a@1", "a@2", "b@1", "b@2", "c@1", "c@2"])
        #expect(try landed.verify() == ([], []))
    }

    /// A database whose schema is newer than this tailor is refused, not written to.
    @Test(.enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipMessage)))
    func aNewerSchemaIsRefused() throws {
        let url = try TestPostgres.newDatabase()
        _ = try AdapterStore(root: url)
        try TestPostgres.psql(url, "INSERT INTO tailor_schema (version) VALUES (99)")
        #expect { try AdapterStore(root: url) } throws: { "\($0)".contains("schema version 99") }
    }

    /// Clients opening one new database at once: the migration runs once, every client works.
    @Test(.enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipMessage)))
    func concurrentOpensMigrateOnce() throws {
        let url = try TestPostgres.newDatabase()
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 6) { index in
            do {
                try AdapterStore(root: url).add(folder: FixturePaths.path("peft/tiny-bert-lora"), name: "a\(index % 2)")
            } catch { failures.add("\(error)") }
        }
        #expect(failures.values.isEmpty, "\(failures.values)")
        #expect(try TestPostgres.psql(url, "SELECT string_agg(version::text, ',') FROM tailor_schema") == "1")
        #expect(try AdapterStore(root: url).list().map(\.version).sorted() == [1, 1, 2, 2, 3, 3])
    }
}
