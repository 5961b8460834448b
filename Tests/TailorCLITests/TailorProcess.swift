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
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
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
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
