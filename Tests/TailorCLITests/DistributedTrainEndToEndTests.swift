import Foundation
import Testing

/// `mpirun -np 2 tailor train …`: the same per-step losses, evaluations and adapter as one
/// process with the same global batch; only rank 0 prints, writes and registers; a failing rank
/// ends the job instead of hanging it; and the same over TCP between two network namespaces
/// joined by a veth pair, standing in for two machines.
@Suite(.serialized) struct DistributedTrainEndToEndTests {
    static let mpirun = MPIJob.executable("mpirun")
    static let skipReason: Comment = "mpirun is not installed (Scripts/install-system-packages installs openmpi-bin)"

    @Test func tailorIsNotLinkedAgainstMPI() throws {
        let ldd = try #require(MPIJob.executable("ldd"))
        let result = try MPIJob.run(ldd, [TailorProcess.executable.path])
        #expect(result.status == 0 && result.stdout.contains("libc.so"), "\(result.stderr)")
        #expect(!result.stdout.contains("libmpi"), "a plain tailor must start without Open MPI installed")
    }

    /// Open MPI is opened only when a run uses it; without it (here: another library named by
    /// TAILOR_MPI_LIBRARY) the run ends on one line saying what to install.
    @Test(arguments: [
        ("/nonexistent/libmpi.so.40", "MPI: cannot load /nonexistent/libmpi.so.40 (install openmpi-bin / libopenmpi-dev): "),
        ("libz.so.1", "MPI: libz.so.1 has no symbol MPI_Init_thread (Open MPI 4 or 5 is needed: install openmpi-bin / libopenmpi-dev)"),
    ])
    func withoutOpenMPIADistributedRunIsOneErrorLine(library: String, message: String) throws {
        let folder = TemporaryFolder()
        var environment = ProcessInfo.processInfo.environment
        environment["TAILOR_MPI_LIBRARY"] = library
        let arguments = [
            "train", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture("sentiment/train.jsonl"),
            "--output", folder.file("run"), "--distributed", "mpi",
        ]
        let result = try MPIJob.run(TailorProcess.executable.path, arguments, environment: environment)
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("tailor: error: " + message) == true, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("run")))
    }

    @Test(.enabled(if: mpirun != nil, skipReason))
    func twoRanksTrainAsOneProcessAndOnlyRankZeroWrites() throws {
        let folder = TemporaryFolder()
        let run = try TrainingRun(in: folder)
        let single = try TailorProcess.run(run.arguments(output: folder.file("single")) + ["--distributed", "none"])
        #expect(single.status == 0, "\(single.stderr)")

        // Each rank gets its own working folder and a relative --output: whatever rank 1 wrote
        // would land in its folder.
        let ranks = [folder.file("rank0"), folder.file("rank1")]
        for path in ranks { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        let registry = folder.file("registry")
        let command = run.arguments(output: "run") + ["--register", "sentiment", "--registry", registry]
        var arguments = MPIJob.options + MPIJob.sharedMemory
        for (rank, path) in ranks.enumerated() {
            if rank > 0 { arguments.append(":") }
            arguments += ["-np", "1", "-wdir", path, TailorProcess.executable.path] + command
        }
        let job = try MPIJob.run(try #require(Self.mpirun), arguments, environment: MPIJob.environment)
        #expect(job.status == 0, "\(job.stderr)")

        let events = MPIJob.events(job.stdout)
        for kind in ["start", "done", "registered"] {
            #expect(events.filter { $0["event"] as? String == kind }.count == 1, "one \(kind) event: rank 1 prints nothing")
        }
        let done = try #require(events.last { $0["event"] as? String == "done" })
        #expect(done["ranks"] as? Double == 2)
        #expect((done["allreduce_seconds_per_step"] as? Double).map { $0 > 0 } == true)
        #expect((done["allreduce_wait_seconds_per_step"] as? Double).map { $0 >= 0 } == true)
        // Per step: 1,090 trainable f32 values, 10 has-gradient flags and the stop flag, and the
        // micro-batch's loss terms, loss sum and tokens in f64.
        #expect(done["allreduce_bytes_per_step"] as? Double == Double(4 * (1_090 + 10 + 1) + 8 * 3), "\(done)")
        try MPIJob.expectSameTraining(events, MPIJob.events(single.stdout), steps: 20, evaluations: 2)
        try MPIJob.expectSameAdapter(ranks[0] + "/run", folder.file("single"))

        #expect(!FileManager.default.fileExists(atPath: ranks[1] + "/run"), "rank 1 wrote its output")
        let written = try FileManager.default.contentsOfDirectory(atPath: ranks[0] + "/run").sorted()
        #expect(written == (try FileManager.default.contentsOfDirectory(atPath: folder.file("single")).sorted()))
        let lines = { (path: String) in try String(contentsOfFile: path + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count }
        #expect(try lines(ranks[0] + "/run") == lines(folder.file("single")), "metrics.jsonl written once")
        let listed = try TailorProcess.run(["adapter", "list", "--registry", registry, "--json"])
        #expect(listed.status == 0 && listed.stdout.contains("sentiment"), "\(listed.stdout) \(listed.stderr)")
    }

    @Test(.enabled(if: mpirun != nil, skipReason))
    func aFailingRankEndsEveryRankWithItsError() throws {
        let folder = TemporaryFolder()
        let run = try TrainingRun(in: folder)
        let good = run.arguments(output: folder.file("out"))
        var bad = good
        bad[bad.firstIndex(of: "--data")! + 1] = folder.file("missing.jsonl")
        let arguments =
            MPIJob.options + MPIJob.sharedMemory + ["-np", "1", TailorProcess.executable.path] + good
            + [":", "-np", "1", TailorProcess.executable.path] + bad
        let started = Date()
        let job = try MPIJob.run(try #require(Self.mpirun), arguments, environment: MPIJob.environment)
        #expect(job.status != 0)
        #expect(job.stderr.contains("tailor: error: rank 1 of 2: ") && job.stderr.contains("missing.jsonl"), "\(job.stderr)")
        // Rank 0 waits in its first collective until rank 1's MPI_Abort ends it: no hang.
        #expect(Date().timeIntervalSince(started) < 60)
    }

    @Test(.enabled(if: mpirun != nil, skipReason), .enabled(if: NetworkNamespaces.permitted, NetworkNamespaces.skipReason))
    func twoHostsOverTCPTrainAsOneProcess() throws {
        let folder = TemporaryFolder()
        let run = try TrainingRun(in: folder)
        let single = try TailorProcess.run(run.arguments(output: folder.file("single")) + ["--distributed", "none"])
        #expect(single.status == 0, "\(single.stderr)")

        let hosts = try NetworkNamespaces()
        defer { hosts.remove() }
        let agent = folder.file("agent")
        // mpirun calls its remote agent as `AGENT HOST COMMAND…`, as it would call ssh.
        try """
        #!/bin/sh
        host="$1"; shift
        if [ "$host" = "\(NetworkNamespaces.addresses[1])" ]; then exec \(hosts.ip) netns exec \(hosts.names[1]) sh -c "$*"; fi
        exec sh -c "$*"

        """.write(toFile: agent, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agent)
        let hostfile = folder.file("hosts")
        try NetworkNamespaces.addresses.map { "\($0) slots=1\n" }.joined().write(toFile: hostfile, atomically: true, encoding: .utf8)
        let subnet = NetworkNamespaces.subnet
        let arguments =
            ["netns", "exec", hosts.names[0], try #require(Self.mpirun)] + MPIJob.options
            + [
                "-np", "2", "--hostfile", hostfile, "--mca", "plm_rsh_agent", agent, "--mca", "btl", "self,tcp",
                "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet,
                // Each "host" would bind its one rank to core 0, the same core here.
                "--bind-to", "none",
                TailorProcess.executable.path,
            ] + run.arguments(output: folder.file("two-hosts"))
        let job = try MPIJob.run(hosts.ip, arguments, environment: MPIJob.environment)
        #expect(job.status == 0, "\(job.stderr)")
        let events = MPIJob.events(job.stdout)
        #expect(events.last?["ranks"] as? Double == 2, "\(job.stdout)")
        try MPIJob.expectSameTraining(events, MPIJob.events(single.stdout), steps: 20, evaluations: 2)
        try MPIJob.expectSameAdapter(folder.file("two-hosts"), folder.file("single"))
    }
}

/// The run both sides train: the tiny BERT without dropout (ranks draw different masks), 140
/// examples in 20 batches of 7 (shares of 3 and 4), an evaluation every 10 steps on 13 examples.
struct TrainingRun {
    let model: String, data: String, validation: String

    init(in folder: TemporaryFolder) throws {
        let source = TailorProcess.fixture("tiny-bert")
        model = folder.file("tiny-bert")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        var config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as? [String: Any])
        config["hidden_dropout_prob"] = 0.0
        config["attention_probs_dropout_prob"] = 0.0
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: model + "/config.json"))
        for file in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: model + "/" + file)
        }
        let lines = try String(contentsOfFile: TailorProcess.fixture("sentiment/train.jsonl"), encoding: .utf8).split(separator: "\n")
        (data, validation) = (folder.file("train.jsonl"), folder.file("validation.jsonl"))
        try (lines[0..<140].joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        try (lines[200..<213].joined(separator: "\n") + "\n").write(toFile: validation, atomically: true, encoding: .utf8)
    }

    func arguments(output: String) -> [String] {
        [
            "train", "--model", model, "--data", data, "--validation", validation, "--method", "lora", "--r", "4", "--alpha", "8",
            "--target-modules", "query,value", "--modules-to-save", "classifier", "--batch-size", "7", "--epochs", "1", "--lr", "1e-2",
            "--logging-steps", "1", "--eval-strategy", "steps", "--eval-steps", "10", "--metric", "f1", "--seed", "7",
            "--output", output, "--json",
        ]
    }
}

/// Running Open MPI jobs from tests and comparing what they print and write.
enum MPIJob {
    /// What every job needs here: tests run as root in CI, and 2 ranks may exceed the cores.
    static let options = ["--allow-run-as-root", "--oversubscribe"]
    /// Ranks on one machine talk through shared memory, copied through it twice: the single-copy
    /// mechanism (process_vm_readv) needs ptrace rights that containers often withhold.
    static let sharedMemory = ["--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none"]
    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        // One thread per rank: the ranks share this machine's cores.
        environment["TAILOR_THREADS"] = "1"
        return environment
    }

    /// `name` found on PATH (and the sbin folders, where `ip` lives), nil when absent.
    static func executable(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]).map { $0 + "/" + name }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Runs `executable`, ended after `timeout` seconds should it hang.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: TimeInterval = 240
    ) throws -> TailorProcess.Result {
        try TailorProcess.run(
            executable: URL(fileURLWithPath: executable), arguments, environment: environment, timeout: timeout)
    }

    static func events(_ stdout: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Every step's loss within 1e-5 (relative) of one process's, every evaluation's metrics within 1e-6.
    static func expectSameTraining(_ ours: [[String: Any]], _ reference: [[String: Any]], steps: Int, evaluations: Int) throws {
        func values(_ events: [[String: Any]], _ kind: String) -> [[String: Double]] {
            events.filter { $0["event"] as? String == kind }.map { $0.compactMapValues { $0 as? Double } }
        }
        let (losses, expected) = (values(ours, "step").compactMap { $0["loss"] }, values(reference, "step").compactMap { $0["loss"] })
        #expect(losses.count == steps && expected.count == steps)
        for (step, (a, b)) in zip(losses, expected).enumerated() {
            #expect(abs(a - b) <= 1e-5 * abs(b), "step \(step + 1): loss \(a), one process \(b)")
        }
        let (evals, expectedEvals) = (values(ours, "eval"), values(reference, "eval"))
        #expect(evals.count == evaluations && expectedEvals.count == evaluations)
        for (ours, theirs) in zip(evals, expectedEvals) {
            #expect(ours.keys.sorted() == theirs.keys.sorted())
            for (key, value) in theirs where key != "epoch" {
                #expect(abs((ours[key] ?? .nan) - value) <= 1e-6 * max(abs(value), 1), "\(key): \(ours[key] ?? .nan) vs \(value)")
            }
        }
    }

    /// Every tensor of the two adapters within 1e-4 of the tensor's largest value.
    static func expectSameAdapter(_ folder: String, _ reference: String) throws {
        let (ours, theirs) = (try tensors(folder + "/adapter_model.safetensors"), try tensors(reference + "/adapter_model.safetensors"))
        #expect(ours.keys.sorted() == theirs.keys.sorted() && !ours.isEmpty)
        for (name, values) in theirs {
            let scale = values.map { abs($0) }.max() ?? 0
            let worst = zip(ours[name] ?? [], values).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * max(scale, 1e-3), "\(name): differs by \(worst), largest value \(scale)")
        }
    }

    static func tensors(_ path: String) throws -> [String: [Float]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
        var tensors: [String: [Float]] = [:]
        for (name, entry) in header where name != "__metadata__" {
            let offsets = try #require((entry as? [String: Any])?["data_offsets"] as? [Int])
            let bytes = data.subdata(in: (8 + length + offsets[0])..<(8 + length + offsets[1]))
            tensors[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return tensors
    }
}

/// Two network namespaces joined by a veth pair, 10.77.0.1 and 10.77.0.2 (/24), names unique
/// to this run; `remove()` deletes both (and so the pair).
struct NetworkNamespaces {
    static let addresses = ["10.77.0.1", "10.77.0.2"]
    static let subnet = "10.77.0.0/24"
    static let skipReason: Comment = "ip netns add is not permitted here (needs root and iproute2)"

    let ip: String
    let names: [String]

    /// Whether this process may create network namespaces: tried once, with a namespace removed at once.
    static let permitted: Bool = {
        guard let ip = MPIJob.executable("ip") else { return false }
        let probe = "tailor-probe-" + String(UUID().uuidString.prefix(8))
        guard (try? MPIJob.run(ip, ["netns", "add", probe]))?.status == 0 else { return false }
        _ = try? MPIJob.run(ip, ["netns", "delete", probe])
        return true
    }()

    init() throws {
        ip = try #require(MPIJob.executable("ip"))
        let suffix = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
        names = ["tailor-a-" + suffix, "tailor-b-" + suffix]
        let links = ["tva" + suffix, "tvb" + suffix]
        var commands = names.map { ["netns", "add", $0] } + [["link", "add", links[0], "type", "veth", "peer", "name", links[1]]]
        for side in 0..<2 {
            commands += [
                ["link", "set", links[side], "netns", names[side]],
                ["-n", names[side], "addr", "add", Self.addresses[side] + "/24", "dev", links[side]],
                ["-n", names[side], "link", "set", links[side], "up"], ["-n", names[side], "link", "set", "lo", "up"],
            ]
        }
        for command in commands {
            let result = try MPIJob.run(ip, command)
            if result.status != 0 {
                remove()
                throw NamespaceError(message: "ip \(command.joined(separator: " ")): \(result.stderr)")
            }
        }
    }

    func remove() {
        for name in names { _ = try? MPIJob.run(ip, ["netns", "delete", name]) }
    }

    struct NamespaceError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
