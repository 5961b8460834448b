import CMPILoader
import Foundation

/// The ranks of an MPI job (`mpirun -np N tailor …`), through Open MPI loaded at run time: a
/// `tailor` that never uses it needs no MPI installed. Collectives go over MPI_COMM_WORLD; the
/// calls may come from any thread but one at a time (MPI_THREAD_SERIALIZED).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Loads Open MPI and initializes it (once per process; MPI_Finalize runs at exit). The
    /// library is `TAILOR_MPI_LIBRARY` when set (a name or path: another Open MPI build), else
    /// libmpi.so.40, else libmpi.so.
    public init() throws {
        var message = [CChar](repeating: 0, count: 1024)
        let library = ProcessInfo.processInfo.environment["TAILOR_MPI_LIBRARY"]
        guard tailor_mpi_load(library, &message, message.count) == 0 else {
            throw CollectivesError(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        try Self.check(tailor_mpi_init(), "MPI_Init_thread")
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(tailor_mpi_rank(&rank), "MPI_Comm_rank")
        try Self.check(tailor_mpi_size(&size), "MPI_Comm_size")
        (self.rank, self.size) = (Int(rank), Int(size))
    }

    /// MPI counts are 32-bit: longer buffers go in chunks of this many elements.
    static let chunk = 1 << 30

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        inChunks(values) { tailor_mpi_allreduce_sum_float($0, $1) }
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        inChunks(values) { tailor_mpi_allreduce_sum_double($0, $1) }
    }

    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {
        inChunks(values) { tailor_mpi_allreduce_max_double($0, $1) }
    }

    public func barrier() { fatalUnlessSuccess(tailor_mpi_barrier(), "MPI_Barrier") }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) {
        guard let base = bytes.baseAddress else { return }
        for start in stride(from: 0, to: bytes.count, by: Self.chunk) {
            let count = min(Self.chunk, bytes.count - start)
            fatalUnlessSuccess(tailor_mpi_broadcast(base + start, Int32(count), Int32(root)), "MPI_Bcast")
        }
    }

    public func abort(code: Int32) -> Never {
        tailor_mpi_abort(code)
        exit(code)
    }

    private func inChunks<Element>(
        _ values: UnsafeMutableBufferPointer<Element>, _ call: (UnsafeMutablePointer<Element>, Int32) -> Int32
    ) {
        guard let base = values.baseAddress else { return }
        for start in stride(from: 0, to: values.count, by: Self.chunk) {
            fatalUnlessSuccess(call(base + start, Int32(min(Self.chunk, values.count - start))), "MPI_Allreduce")
        }
    }

    /// A failed collective leaves the ranks out of step; there is no going on from it. (Open MPI's
    /// default error handler aborts the job before returning an error; this covers the others.)
    private func fatalUnlessSuccess(_ code: Int32, _ call: String) {
        guard code != 0 else { return }
        FileHandle.standardError.write(Data("tailor: error: rank \(rank): \(call): \(Self.text(of: code))\n".utf8))
        abort(code: 1)
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != 0 else { return }
        throw CollectivesError("MPI: \(call) failed: \(text(of: code))")
    }

    static func text(of code: Int32) -> String {
        var message = [CChar](repeating: 0, count: 512)
        tailor_mpi_error_string(code, &message, message.count)
        return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
