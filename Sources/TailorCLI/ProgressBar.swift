import Diagnostics
import Foundation

/// A one-line progress display on standard error: fraction, rate, ETA. Drawn only when standard
/// error is a terminal and machine output is off, so logs and pipes stay clean.
final class ProgressBar {
    private let label: String
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast

    init(label: String, quiet: Bool) {
        self.label = label
        enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    /// Redraws at most 10 times a second; `done`/`total` are bytes.
    func update(done: Int, total: Int) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(
            format: "\r%@ %@ %3.0f%%  %@/s  ETA %.0fs ", label, bar, fraction * 100,
            formatBytes(Int(rate)), eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
