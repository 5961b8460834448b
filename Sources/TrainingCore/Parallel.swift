import CTrainingKernels
import Dispatch
import Foundation

/// Splits row ranges across the machine's cores for the element-wise and row-wise kernels.
public enum Parallel {
    /// Worker count: `TAILOR_THREADS` when set, else the processors this process may run on (its
    /// CPU affinity: `mpirun` binds each rank to its own cores, and workers beyond them only queue).
    public static let workers: Int = {
        if let text = ProcessInfo.processInfo.environment["TAILOR_THREADS"], let count = Int(text), count > 0 { return count }
        return max(1, min(ProcessInfo.processInfo.activeProcessorCount, allowedProcessors ?? .max))
    }()

    /// The processors in this process's affinity mask (nil where unknown).
    static var allowedProcessors: Int? {
        let count = Int(tk_allowed_processors())
        return count > 0 ? count : nil
    }

    /// Runs `body` over `0..<count` in at most `workers` contiguous chunks; stays on the calling
    /// thread when the work is smaller than `grain` items.
    public static func forRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, grain: grain)
        if chunks == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                body(start..<end)
            }
        }
    }

    /// Like ``forRanges(_:grain:_:)`` but hands each chunk its index too, so chunks can keep
    /// private partial sums (e.g. a weight gradient) that the caller reduces afterwards.
    public static func forChunks(_ count: Int, grain: Int = 4096, _ body: (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, grain: grain)
        if chunks == 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                body(chunk, (count * chunk / chunks)..<(count * (chunk + 1) / chunks))
            }
        }
    }

    /// How many chunks ``forChunks(_:grain:_:)`` uses for `count` items.
    public static func chunkCount(_ count: Int, grain: Int = 4096) -> Int {
        min(workers, max(1, count / max(grain, 1)))
    }
}
