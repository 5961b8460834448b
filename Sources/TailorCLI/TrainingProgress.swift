import Diagnostics
import Foundation
import Training

/// The progress line of `tailor train`: step, epoch, loss, rate and ETA, redrawn in place on a
/// terminal, one line per evaluation and checkpoint.
final class TrainingProgress {
    private let interactive: Bool
    private let quiet: Bool
    private let start = Date()

    init(quiet: Bool) {
        self.quiet = quiet
        interactive = !quiet && isatty(STDERR_FILENO) == 1
    }

    func show(_ event: Trainer.Event) {
        guard !quiet else { return }
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        let rate = Double(event.step) / elapsed
        let eta = rate > 0 ? Double(event.totalSteps - event.step) / rate : 0
        switch event.kind {
        case .step:
            let line = String(
                format: "step %d/%d  epoch %.2f  loss %.4f  lr %.2e  %.2f steps/s  ETA %@", event.step, event.totalSteps,
                event.epoch, event.values["loss"] ?? 0, event.values["learning_rate"] ?? 0, rate, Self.duration(eta))
            if interactive {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            } else {
                print(line)
            }
        case .eval:
            clear()
            let values = event.values.keys.sorted().map { String(format: "%@ %.4f", $0, event.values[$0]!) }.joined(separator: "  ")
            print(String(format: "eval at step %d (epoch %.2f): ", event.step, event.epoch) + values)
        case .checkpoint:
            clear()
            print("checkpoint \(event.message ?? "")")
        case .done:
            clear()
            if let message = event.message { print(message) }
            var values = event.values
            if let seconds = values.removeValue(forKey: "train_runtime") {
                let samples = values.removeValue(forKey: "train_samples_per_second") ?? 0
                let tokens = values.removeValue(forKey: "train_tokens_per_second") ?? 0
                print(String(format: "trained in %.1f s: %.1f samples/s, %@ tokens/s", seconds, samples, groupedDigits(Int(tokens))))
            }
            if let ranks = values.removeValue(forKey: "ranks") {
                let seconds = values.removeValue(forKey: "allreduce_seconds_per_step") ?? 0
                let bytes = values.removeValue(forKey: "allreduce_bytes_per_step") ?? 0
                let wait = values.removeValue(forKey: "allreduce_wait_seconds_per_step") ?? 0
                print(
                    String(
                        format: "%.0f ranks: all-reduce %.2f ms and %.3f MB per step, %.2f ms waiting for the slowest rank", ranks,
                        1000 * seconds, bytes / 1e6, 1000 * wait))
            }
            if !values.isEmpty {
                print(values.keys.sorted().map { String(format: "%@ %.4f", $0, values[$0]!) }.joined(separator: "  "))
            }
        }
    }

    private func clear() {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    func finish() { clear() }

    static func duration(_ seconds: Double) -> String {
        seconds >= 3600
            ? String(
                format: "%.0fh%02.0fm", (seconds / 3600).rounded(.down),
                (seconds.truncatingRemainder(dividingBy: 3600) / 60).rounded(.down))
            : seconds >= 60
                ? String(
                    format: "%.0fm%02.0fs", (seconds / 60).rounded(.down),
                    seconds.truncatingRemainder(dividingBy: 60).rounded(.down))
                : String(format: "%.0fs", seconds)
    }
}
