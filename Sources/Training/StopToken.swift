import Synchronization

/// A request to stop long work after its current step, shared between whoever asks (a signal
/// handler, a server cancelling a job, a test) and the work that checks it. Safe to set from any
/// thread; each run gets its own, so stopping one trainer leaves others running.
public final class StopToken: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    public func request() { requested.store(true, ordering: .relaxed) }

    public var isRequested: Bool { requested.load(ordering: .relaxed) }
}
