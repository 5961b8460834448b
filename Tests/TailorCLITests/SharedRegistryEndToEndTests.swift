import Foundation
import SafeTensors
import Testing

/// Export from either backend streams: a 64 MB adapter of eight tensors passes through memory a
/// tensor at a time (it held the whole file, and more, before). Peak memory is GNU time's: the
/// child's own high-water mark (wait4's also counts the test runner it was forked from).
@Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time"), "needs /usr/bin/time (Debian's time package)"),
    arguments: TestRegistryKind.available)
func exportHoldsOneTensorAtATime(kind: TestRegistryKind) throws {
    let folder = TemporaryFolder()
    let registry = try kind.make(in: folder)
    let source = try SharedRegistryEndToEndTests.bigAdapter(in: folder, megabytes: 8, seeds: Array(0..<8))
    #expect(try TailorProcess.run(["adapter", "add", source, "--name", "big", "--registry", registry]).status == 0)
    func peakKilobytes(_ arguments: [String]) throws -> Int {
        let result = try TailorProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/time"), ["-f", "peak %M", TailorProcess.executable.path] + arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return result.stderr.split(separator: "\n").last.flatMap { Int($0.dropFirst(5)) } ?? -1
    }
    let baseline = try peakKilobytes(["adapter", "list", "--registry", registry])
    let export = try peakKilobytes(["adapter", "export", "big", "--output", folder.file("out"), "--registry", registry])
    #expect(baseline > 0 && export - baseline < 32 << 10, "export peaked \((export - baseline) >> 10) MB above listing for a 64 MB adapter")
    #expect(
        FileManager.default.contents(atPath: folder.file("out/adapter_model.safetensors"))
            == FileManager.default.contents(atPath: source + "/adapter_model.safetensors"))
}

/// A registry a team shares on PostgreSQL, driven as processes do: clients killed mid-add and
/// mid-gc, a server restarted under an add, and serve replicas that see adapters added later.
@Suite(.enabled(if: TestPostgres.url != nil, Comment(rawValue: TestPostgres.skipMessage)))
struct SharedRegistryEndToEndTests {
    /// An adapter folder with one tensor of `megabytes` of random floats (they hardly compress),
    /// so adding it takes long enough to be interrupted.
    /// `seeds` gives one tensor per seed (the same seed, the same tensor).
    static func bigAdapter(in folder: TemporaryFolder, megabytes: Int, seed: Int = 0, seeds: [Int]? = nil) throws -> String {
        let seeds = seeds ?? [seed]
        let source = folder.file("big-\(megabytes)-\(seeds.map(String.init).joined(separator: "-"))")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let tensors = seeds.enumerated().map { index, seed in
            var state = UInt64(seed + 1) &* 0x9E37_79B9_7F4A_7C15
            let values = (0..<(megabytes << 18)).map { _ -> Float in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(bitPattern: 0x3F80_0000 | UInt32(truncatingIfNeeded: state >> 41)) - 1.5
            }
            return TensorData(name: "base_model.model.layer\(index).lora_A.weight", shape: [values.count], floats: values)
        }
        try SafeTensorsWriter.write(tensors, to: source + "/adapter_model.safetensors")
        try Data(#"{"peft_type": "LORA", "r": 8, "target_modules": ["layer"]}"#.utf8)
            .write(to: URL(fileURLWithPath: source + "/adapter_config.json"))
        return source
    }

    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = TailorProcess.executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = Pipe()
        try process.run()
        return process
    }

    /// Locks are per database; each test has its own.
    static let thisDatabase = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"

    /// Waits until some session holds the registry's add lock (an add is inside its transaction).
    static func waitForAnAddInFlight(_ url: String) throws -> Bool {
        for _ in 0..<400 {
            let held = try TestPostgres.psql(
                url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted AND \(Self.thisDatabase)"
            )
            if held != "0" { return true }
            usleep(10_000)
        }
        return false
    }

    static func blobCount(_ url: String) throws -> Int { Int(try TestPostgres.psql(url, "SELECT COUNT(*) FROM blob")) ?? -1 }

    /// kill -9 while adds are inside their transaction: the killed add leaves no version and no
    /// blob (gc finds nothing to remove), and every version listed exports whole.
    @Test func killedAddsLeaveNothingBehind() throws {
        let folder = TemporaryFolder()
        let url = try TestPostgres.newDatabase()
        let big = try Self.bigAdapter(in: folder, megabytes: 24)
        #expect(
            try TailorProcess.run(["adapter", "add", TailorProcess.fixture("peft/tiny-bert-lora"), "--name", "a", "--registry", url]).status
                == 0)
        let before = try Self.blobCount(url)
        for _ in 0..<3 {
            let process = try Self.start(["adapter", "add", big, "--name", "big", "--registry", url])
            #expect(try Self.waitForAnAddInFlight(url), "the add never started its transaction")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // The server drops a dead client's transaction when it next reads from it.
        var versions = ""
        for _ in 0..<200 {
            versions = try TestPostgres.psql(url, "SELECT COUNT(*) FROM version")
            if try TestPostgres.psql(url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND \(Self.thisDatabase)") == "0" {
                break
            }
            usleep(20_000)
        }
        let blobsAfter = try Self.blobCount(url)
        #expect(versions == "1" && blobsAfter == before, "no half-written add")
        let gc = try TailorProcess.run(["registry", "gc", "--registry", url, "--json"])
        #expect(gc.json?["removed_blobs"] as? Int == 0, "\(gc.stdout)\(gc.stderr)")
        #expect(try TailorProcess.run(["registry", "verify", "--registry", url]).status == 0)
        #expect(try TailorProcess.run(["adapter", "export", "a", "--output", folder.file("out"), "--registry", url]).status == 0)
    }

    /// gc killed at random points while it deletes: each run removes all it should or nothing,
    /// and the versions still there export whole. gc never takes a blob an add is reusing.
    @Test func killedGCAndGCBesideAddsKeepEveryVersion() throws {
        let folder = TemporaryFolder()
        let url = try TestPostgres.newDatabase()
        let sources = try (0..<3).map { try Self.bigAdapter(in: folder, megabytes: 2, seed: $0) }
        for (index, source) in sources.enumerated() {
            #expect(try TailorProcess.run(["adapter", "add", source, "--name", "gone\(index)", "--registry", url]).status == 0)
        }
        for index in sources.indices { #expect(try TailorProcess.run(["adapter", "rm", "gone\(index)", "--registry", url]).status == 0) }
        #expect(
            try TailorProcess.run(["adapter", "add", TailorProcess.fixture("peft/tiny-llama-dora"), "--name", "kept", "--registry", url])
                .status == 0)
        let unreferenced = try Self.blobCount(url) - Int(try TestPostgres.psql(url, "SELECT COUNT(DISTINCT blob) FROM file"))!
        #expect(unreferenced > 0)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<4 {
            let gc = try Self.start(["registry", "gc", "--registry", url])
            usleep(UInt32.random(in: 0...60_000, using: &generator))
            kill(gc.processIdentifier, SIGKILL)
            gc.waitUntilExit()
            let left = try Self.blobCount(url) - Int(try TestPostgres.psql(url, "SELECT COUNT(DISTINCT blob) FROM file"))!
            #expect(left == 0 || left == unreferenced || left < unreferenced, "gc left \(left) of \(unreferenced)")
            #expect(
                try TestPostgres.psql(
                    url, "SELECT COUNT(*) FROM blob b WHERE NOT EXISTS (SELECT 1 FROM blob_chunk c WHERE c.hash = b.hash)") == "0")
        }
        // Re-adding the removed content reuses its blobs (if gc has not taken them yet) while gc runs.
        let adds = sources.enumerated().map { index, source in
            (try? Self.start(["adapter", "add", source, "--name", "back\(index)", "--registry", url]))!
        }
        while adds.contains(where: \.isRunning) { _ = try TailorProcess.run(["registry", "gc", "--registry", url]) }
        #expect(adds.allSatisfy { $0.terminationStatus == 0 })
        for index in sources.indices {
            let out = folder.file("back\(index)")
            #expect(try TailorProcess.run(["adapter", "export", "back\(index)", "--output", out, "--registry", url]).status == 0)
            #expect(
                FileManager.default.contents(atPath: out + "/adapter_model.safetensors")
                    == FileManager.default.contents(atPath: sources[index] + "/adapter_model.safetensors"))
        }
        #expect(try TailorProcess.run(["adapter", "export", "kept", "--output", folder.file("kept"), "--registry", url]).status == 0)
        #expect(try TailorProcess.run(["registry", "verify", "--registry", url]).status == 0)
    }

    /// gc while an add that reuses a removed adapter's blob is storing its next tensor: gc waits
    /// for the add (the advisory lock), so the reused blob survives and the add commits whole.
    @Test func gcWaitsForAnAddReusingAnUnreferencedBlob() throws {
        let folder = TemporaryFolder()
        let url = try TestPostgres.newDatabase()
        let old = try Self.bigAdapter(in: folder, megabytes: 4, seeds: [7])
        #expect(try TailorProcess.run(["adapter", "add", old, "--name", "old", "--registry", url]).status == 0)
        #expect(try TailorProcess.run(["adapter", "rm", "old", "--registry", url]).status == 0)
        // Tensor 0 is the removed adapter's; tensor 1 is new and takes a while to store.
        let new = try Self.bigAdapter(in: folder, megabytes: 4, seeds: [7, 8, 9, 10, 11, 12])
        let add = try Self.start(["adapter", "add", new, "--name", "new", "--registry", url])
        var storing = false
        for _ in 0..<1000 where !storing {
            storing =
                try TestPostgres.psql(
                    url, "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO blob_chunk%' AND datname = current_database()"
                )
                != "0"
        }
        #expect(storing, "the add never stored a chunk")
        let gc = try TailorProcess.run(["registry", "gc", "--registry", url, "--json"])
        add.waitUntilExit()
        let stderr = String(decoding: (add.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(add.terminationStatus == 0, "\(stderr)")
        #expect(gc.status == 0, "\(gc.stderr)")
        let out = folder.file("out")
        #expect(try TailorProcess.run(["adapter", "export", "new", "--output", out, "--registry", url]).status == 0)
        #expect(
            FileManager.default.contents(atPath: out + "/adapter_model.safetensors")
                == FileManager.default.contents(atPath: new + "/adapter_model.safetensors"))
    }

    /// The server restarts while an add is inside its transaction: the client says so in one
    /// line and fails; nothing of the add is left; the next add works on a new connection.
    @Test func aServerRestartedMidAddLeavesNothing() throws {
        let folder = TemporaryFolder()
        let cluster = folder.file("cluster")
        let url = try TestPostgres.startServer(in: cluster)
        defer { TestPostgres.stopServer(in: cluster) }
        let big = try Self.bigAdapter(in: folder, megabytes: 48)
        #expect(try TailorProcess.run(["adapter", "list", "--registry", url]).status == 0)
        let process = try Self.start(["adapter", "add", big, "--name", "big", "--registry", url])
        #expect(try Self.waitForAnAddInFlight(url))
        try TestPostgres.restartServer(in: cluster)
        process.waitUntilExit()
        let stderr = String(decoding: (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 1, "\(stderr)")
        #expect(stderr.contains(url) && stderr.split(separator: "\n").count == 1, "\(stderr)")
        let blobsLeft = try Self.blobCount(url)
        #expect(try TestPostgres.psql(url, "SELECT COUNT(*) FROM version") == "0" && blobsLeft == 0)
        #expect(
            try TailorProcess.run(["adapter", "add", TailorProcess.fixture("peft/tiny-bert-lora"), "--name", "a", "--registry", url]).status
                == 0)
    }

    /// A request for a registry adapter while the database is down is a 503 to retry, not a 404
    /// saying no such adapter exists.
    @Test func aRegistryThatIsDownIsA503() async throws {
        let folder = TemporaryFolder()
        let cluster = folder.file("cluster")
        let url = try TestPostgres.startServer(in: cluster)
        defer { TestPostgres.stopServer(in: cluster) }
        let server = try ServeEndToEndTests.ServeProcess([
            "--model", TailorProcess.fixture("tiny-llama"), "--port", "0", "--json", "--registry", url,
        ])
        defer { server.stop() }
        let port = try server.port()
        try await server.waitForReady(port)
        let request = try JSONSerialization.data(withJSONObject: ["model": "absent", "prompt": "Once", "max_tokens": 2])
        #expect(try await HTTPTestClient.send(port: port, "POST", "/v1/completions", body: request).status == 404)
        TestPostgres.stopServer(in: cluster)
        let reply = try await HTTPTestClient.send(port: port, "POST", "/v1/completions", body: request)
        #expect(reply.status == 503 && reply.text.contains("registry cannot be read"), "\(reply.status) \(reply.text)")
    }

    /// Two `tailor serve` replicas on one shared registry both serve an adapter added after
    /// they started; `train --register` writes into the same database.
    @Test func serveReplicasSeeAnAdapterAddedLater() async throws {
        let folder = TemporaryFolder()
        let url = try TestPostgres.newDatabase()
        let replicas = try (0..<2).map { _ in
            try ServeEndToEndTests.ServeProcess([
                "--model", TailorProcess.fixture("tiny-llama"), "--port", "0", "--json", "--registry", url,
            ])
        }
        defer { for replica in replicas { replica.stop() } }
        var ports: [Int] = []
        for replica in replicas {
            let port = try replica.port()
            try await replica.waitForReady(port)
            ports.append(port)
        }
        let request = try JSONSerialization.data(withJSONObject: ["model": "late", "prompt": "Once", "max_tokens": 3, "temperature": 0])
        for port in ports {
            #expect(try await HTTPTestClient.send(port: port, "POST", "/v1/completions", body: request).status == 404)
        }
        let train = try TailorProcess.run([
            "train", "--model", TailorProcess.fixture("tiny-llama"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--task", "causal-lm", "--method", "lora", "--r", "4", "--epochs", "0.05", "--output", folder.file("run"),
            "--register", "late", "--registry", url, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        var texts: [String] = []
        for port in ports {
            let reply = try await HTTPTestClient.send(port: port, "POST", "/v1/completions", body: request)
            #expect(reply.status == 200, "\(reply.text)")
            texts.append(reply.text)
            let models = try await HTTPTestClient.send(port: port, "GET", "/v1/models")
            #expect(models.text.contains("\"late\""), "\(models.text)")
        }
        let choices = try texts.map { text in
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            return ((object?["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
        }
        #expect(choices[0] == choices[1], "both replicas applied the same adapter")
    }
}
