/// The processes of one data-parallel run and the collective operations between them: every
/// process (rank) runs the same program on its share of the data and the ranks combine their
/// numbers with all-reduce. Every rank must make the same collective calls in the same order with
/// the same lengths; a rank that cannot continue calls ``abort(code:)`` so that no other one waits
/// forever in a call it will never join.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index in `0..<size`; rank 0 is the one that writes files and prints.
    var rank: Int { get }
    /// How many processes take part.
    var size: Int { get }
    /// Sums `values` element-wise over every rank, in place; every rank ends with the same sums.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>)
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>)
    /// The element-wise maximum over every rank, in place.
    func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>)
    /// Returns once every rank has called it.
    func barrier()
    /// Copies rank `root`'s `bytes` into `bytes` on every other rank (the same length everywhere).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int)
    /// Ends every process of the run with `code`.
    func abort(code: Int32) -> Never
}

extension Communicator {
    /// Whether this is rank 0, the one that writes files and prints.
    public var isRoot: Bool { rank == 0 }

    public func allReduceSum(_ values: inout [Float]) { values.withUnsafeMutableBufferPointer { allReduceSum($0) } }
    public func allReduceSum(_ values: inout [Double]) { values.withUnsafeMutableBufferPointer { allReduceSum($0) } }
    public func allReduceMax(_ values: inout [Double]) { values.withUnsafeMutableBufferPointer { allReduceMax($0) } }

    /// Rank `root`'s `bytes` on every rank, whatever length the others passed.
    public func broadcast(_ bytes: [UInt8], from root: Int = 0) -> [UInt8] {
        guard size > 1 else { return bytes }
        var length = UInt64(bytes.count)
        withUnsafeMutableBytes(of: &length) { broadcast($0, from: root) }
        var received = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        received.withUnsafeMutableBytes { broadcast($0, from: root) }
        return received
    }

    /// This rank's contiguous part of `range` (see ``Shares/share(of:rank:size:)``).
    public func share(of range: Range<Int>) -> Range<Int> {
        let part = Shares.share(of: range.count, rank: rank, size: size)
        return (range.lowerBound + part.lowerBound)..<(range.lowerBound + part.upperBound)
    }
}

/// How work is cut between ranks.
public enum Shares {
    /// Rank `rank`'s contiguous part of `count` items cut into `size` parts whose lengths differ
    /// by at most one (the later ranks get the longer ones); empty when `count < size` leaves
    /// this rank nothing. The parts of all ranks, in rank order, are `0..<count`.
    public static func share(of count: Int, rank: Int, size: Int) -> Range<Int> {
        precondition(size > 0 && (0..<size).contains(rank) && count >= 0, "share: rank \(rank) of \(size), count \(count)")
        return (count * rank / size)..<(count * (rank + 1) / size)
    }
}

/// A problem starting or using MPI, as the one line a user sees.
public struct CollectivesError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
