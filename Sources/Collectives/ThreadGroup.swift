import Foundation

/// `size` ranks as threads of one process, for testing code written against ``Communicator``
/// without MPI: ``members`` are the ranks, each to be used by its own thread. Sums are taken in
/// rank order, so every member gets the same bits, as MPI's all-reduce gives.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var buffers: [UnsafeMutableRawPointer?]

    public init(size: Int) {
        precondition(size > 0)
        self.size = size
        buffers = Array(repeating: nil, count: size)
    }

    /// One communicator per rank.
    public var members: [any Communicator] { (0..<size).map { Member(group: self, rank: $0) } }

    /// Runs `body` once per rank, each on a thread of its own (ranks block in collectives, which
    /// a shared pool of a few threads would turn into a deadlock), and returns the results in
    /// rank order once all have finished.
    public func run<Value: Sendable>(_ body: @escaping @Sendable (any Communicator) throws -> Value) -> [Result<Value, any Error>] {
        let results = Results<Value>(count: size)
        let done = DispatchGroup()
        for member in members {
            done.enter()
            let thread = Thread {
                results.set(member.rank, Result { try body(member) })
                done.leave()
            }
            // Training's recursion (autodiff over deep graphs) wants the main thread's stack size.
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.all
    }

    private final class Results<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Result<Value, any Error>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Result<Value, any Error>) { lock.withLock { values[index] = value } }
        var all: [Result<Value, any Error>] { lock.withLock { values.map { $0! } } }
    }

    /// Waits until every rank has arrived.
    func wait() {
        condition.lock()
        defer { condition.unlock() }
        let current = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current { condition.wait() }
        }
    }

    /// Every rank hands in its buffer; once all have, rank 0 runs `combine` over them (in rank
    /// order) while the others wait, then all leave together.
    func exchange(rank: Int, _ buffer: UnsafeMutableRawPointer?, combine: ([UnsafeMutableRawPointer?]) -> Void) {
        condition.lock()
        buffers[rank] = buffer
        condition.unlock()
        wait()
        if rank == 0 { combine(buffers) }
        wait()
    }

    final class Member: Communicator, @unchecked Sendable {
        let group: ThreadGroup
        let rank: Int
        var size: Int { group.size }

        init(group: ThreadGroup, rank: Int) { (self.group, self.rank) = (group, rank) }

        func reduce<Element>(_ values: UnsafeMutableBufferPointer<Element>, _ combine: @escaping (Element, Element) -> Element) {
            group.exchange(rank: rank, values.baseAddress.map(UnsafeMutableRawPointer.init)) { buffers in
                let all = buffers.map { $0?.assumingMemoryBound(to: Element.self) }
                for index in 0..<values.count {
                    var total = all[0]![index]
                    for other in all.dropFirst() { total = combine(total, other![index]) }
                    for buffer in all { buffer![index] = total }
                }
            }
        }

        func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) { reduce(values, +) }
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) { reduce(values, +) }
        func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) { reduce(values, max) }
        func barrier() { group.wait() }

        func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) {
            group.exchange(rank: rank, bytes.baseAddress) { buffers in
                for (index, buffer) in buffers.enumerated() where index != root {
                    buffer?.copyMemory(from: buffers[root]!, byteCount: bytes.count)
                }
            }
        }

        func abort(code: Int32) -> Never { fatalError("rank \(rank) aborted the thread group with code \(code)") }
    }
}
