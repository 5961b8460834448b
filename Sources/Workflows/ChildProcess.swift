import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs another program to its end, handing over its standard output line by line as it comes
/// and keeping its standard error, and measures it: wall time and the peak resident memory of
/// the child alone (`wait4`'s `ru_maxrss`, which `getrusage` of the parent cannot separate when
/// several children run one after another).
///
/// The child gets `/dev/null` as input, the default action for SIGINT, SIGTERM and SIGPIPE
/// (the parent may ignore them, and ignored signals survive exec), and a process group of its
/// own, so a Ctrl-C at the terminal reaches only the parent, which decides what the child gets.
public struct ChildProcess {
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
    }

    /// How the child ended and what it cost.
    public struct Outcome: Sendable {
        public var termination: Termination
        public var seconds: Double
        public var peakMemoryBytes: Int
        /// Everything the child wrote to standard error.
        public var standardError: String

        public var succeeded: Bool { termination == .exited(0) }
    }

    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        (self.executable, self.arguments) = (executable, arguments)
    }

    /// The running executable's own path, for running it again as a child (`/proc/self/exe` on
    /// Linux, so a `tailor` found through PATH or a symlink is the same file).
    public static var currentExecutable: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// Starts the child, calls `started` with its process id (to signal it), `line` with each
    /// line of its standard output (without the newline), and returns once it has ended.
    public func run(started: (pid_t) -> Void = { _ in }, line: (String) -> Void) throws -> Outcome {
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        guard pipe(&output) == 0 else { throw failure("cannot create a pipe") }
        guard pipe(&errors) == 0 else {
            close(output[0])
            close(output[1])
            throw failure("cannot create a pipe")
        }
        // No end may stay open in the child past exec (its stdout would then never reach EOF);
        // the two it writes are duplicated onto 1 and 2, which exec keeps.
        for fd in output + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let begin = DispatchTime.now().uptimeNanoseconds
        let pid: pid_t
        do {
            pid = try spawn(output: output[1], errors: errors[1])
        } catch {
            for fd in output + errors { close(fd) }
            throw error
        }
        close(output[1])
        close(errors[1])
        started(pid)
        // Both pipes are drained at once: a child blocked on a full stderr pipe would never
        // finish the stdout the parent waits on.
        let errorReader = PipeDrain(fd: errors[0])
        readLines(from: output[0], line)
        close(output[0])
        let standardError = errorReader.wait()
        close(errors[0])
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw failure("cannot wait for process \(pid): \(String(cString: strerror(errno)))") }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        #if canImport(Glibc)
        let peak = usage.ru_maxrss * 1024  // kilobytes on Linux, bytes on Darwin
        #else
        let peak = usage.ru_maxrss
        #endif
        // The wait status layout (WIFEXITED and friends are macros Swift does not import).
        let termination: Termination = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        return Outcome(termination: termination, seconds: seconds, peakMemoryBytes: peak, standardError: standardError)
    }

    private func spawn(output: Int32, errors: Int32) throws -> pid_t {
        #if canImport(Glibc)
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #else
        var actions: posix_spawn_file_actions_t?
        var attributes: posix_spawnattr_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, errors, 2)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signalNumber in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv + [nil], environ)
        guard code == 0 else { throw failure("cannot start: \(String(cString: strerror(code)))") }
        return pid
    }

    private func readLines(from fd: Int32, _ line: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            pending += buffer[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
    }

    private func failure(_ message: String) -> WorkflowError { WorkflowError(file: executable, message) }
}

/// Reads a file descriptor to its end on a thread of its own.
private final class PipeDrain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32) {
        Thread.detachNewThread { [self] in
            data = FileHandle(fileDescriptor: fd, closeOnDealloc: false).readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
