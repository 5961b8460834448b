import Dispatch
import Foundation
import SafeTensors

/// SIGINT and SIGTERM for every command: by default the temporary files of writes in progress
/// are removed and the command exits 130 or 143 (128 + the signal, as shells report it), so an
/// interrupted `quantize` leaves nothing behind. A command with a graceful stop (training saves a
/// checkpoint) registers it; a second signal then stops at once.
enum Interrupts {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    nonisolated(unsafe) private static var gracefulStop: (() -> Void)?
    nonisolated(unsafe) private static var stopping = false
    nonisolated(unsafe) private static var signalReceived: Int32 = 0

    /// The signal that stopped the command, 0 when none did.
    static var received: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return signalReceived
    }

    /// The exit code for a command that stopped on a signal: 128 + the signal.
    static var exitCode: Int32 { 128 + received }

    /// Starts handling both signals (once per process). Signals are handled on a dispatch queue,
    /// not in a signal handler, so the clean-up may take locks and remove folders.
    static func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        // A parent (a test runner, a job supervisor) may have handed us these signals blocked.
        var set = sigset_t()
        sigemptyset(&set)
        for signalNumber in [SIGINT, SIGTERM] {
            sigaddset(&set, signalNumber)
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { handle(signalNumber) }
            source.resume()
            sources.append(source)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Makes the first signal call `stop` instead of exiting; the command then finishes its
    /// graceful stop and exits with ``exitCode``.
    static func stopGracefully(_ stop: @escaping () -> Void) {
        install()
        lock.lock()
        gracefulStop = stop
        lock.unlock()
    }

    private static func handle(_ signalNumber: Int32) {
        lock.lock()
        if signalReceived == 0 { signalReceived = signalNumber }
        if let gracefulStop, !stopping {
            stopping = true
            lock.unlock()
            gracefulStop()
            return
        }
        lock.unlock()
        TemporaryFiles.removeAllAndClose()
        FileHandle.standardError.write(Data("tailor: interrupted\n".utf8))
        _exit(128 + signalNumber)
    }
}
