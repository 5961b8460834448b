import Foundation
@_exported import TailorTestSupport

/// Runs the built `tailor` executable and captures what it prints.
struct TailorProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        var json: [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        }
    }

    static func fixture(_ relative: String) -> String { FixturePaths.path(relative) }

    /// The `tailor` binary built next to the test bundle (or `$TAILOR_BIN`).
    static let executable: URL = {
        if let override = ProcessInfo.processInfo.environment["TAILOR_BIN"] { return URL(fileURLWithPath: override) }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent("tailor")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("tailor")
    }()

    /// Runs `tailor` with `arguments`; `input` (when given) is its standard input.
    static func run(_ arguments: [String], in directory: String? = nil, input: String? = nil) throws -> Result {
        try run(executable: executable, arguments, in: directory, input: input)
    }

    /// Runs any program (mpirun, ip, ldd, or tailor itself) with `environment` replacing the
    /// inherited one when given; a program still running after `timeout` seconds is ended.
    static func run(
        executable program: URL, _ arguments: [String], in directory: String? = nil, input: String? = nil,
        environment: [String: String]? = nil, timeout: TimeInterval? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Both pipes are drained at once: reading one to its end first would block forever
        // when the child fills the other (64 kB) and waits for it to be read.
        nonisolated(unsafe) var stderr = Data()
        let stderrDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            stderr = err.fileHandleForReading.readDataToEndOfFile()
            stderrDone.signal()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        stderrDone.wait()
        process.waitUntilExit()
        watchdog.cancel()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
