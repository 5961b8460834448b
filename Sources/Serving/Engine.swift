import Adapters
import Foundation
import Inference
import Models
import Tokenizers
import TrainingCore
import Workflows

/// The one thread that owns the model. HTTP handlers hand it work through a locked inbox and get
/// results back through async streams; nothing else touches the model, its caches or its adapter
/// slots, so there is no shared mutable routing state.
///
/// Each step it admits waiting requests into the running batch (up to `maxBatch`, loading their
/// adapters as needed), prefills up to `prefillChunk` prompt tokens, then decodes one token for
/// every sequence past its prompt in a single forward pass, whatever adapter each row uses
/// (continuous batching: a request joins at the next step and leaves as soon as it is done).
public final class Engine: @unchecked Sendable {
    public enum Status: Sendable, Equatable {
        case loading
        case ready
        case failed(String)
        case stopped
    }

    enum Work {
        case generate(GenerationJob)
        case task(() -> Void)
    }

    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var inbox: [Work] = []
    private var queued = 0
    private var accepting = true
    private var stopRequested = false
    private var _status = Status.loading
    private var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    private var info: ModelInfo?
    private var aborting = false

    // Engine thread only:
    private(set) var served: ServedModel!
    private(set) var adapters: LoadedAdapters!
    private var waiting: [GenerationJob] = []
    private var running: [RunningSequence] = []

    public init(configuration: ServerConfiguration, metrics: ServerMetrics) {
        self.configuration = configuration
        self.metrics = metrics
    }

    public var status: Status { condition.withLock { _status } }

    /// The loaded model's facts; a 503 while it loads or once shutdown began.
    func readyInfo() throws -> ModelInfo {
        try condition.withLock {
            try checkAccepting()
            return info!
        }
    }

    /// The loaded model's facts, once it has loaded; a 503 before, a 400 for the other task.
    func modelInfo(for task: ServerConfiguration.Task) throws -> ModelInfo {
        let info = try readyInfo()
        guard info.task == task else {
            throw ServingError.invalid(
                info.task == .classify
                    ? "this server's model classifies (POST /v1/classify); it cannot generate text"
                    : "this server's model generates text; start `tailor serve --task classify` to classify")
        }
        return info
    }

    /// Starts the engine thread: it loads the model, then serves until ``shutdown()``.
    public func start() {
        let thread = Thread { [self] in
            do {
                served = try ServedModel(configuration)
                adapters = LoadedAdapters(
                    slots: served.slots,
                    resolver: AdapterResolver(model: configuration.model, registryRoot: configuration.registry, force: configuration.force),
                    capacity: configuration.maxLoadedAdapters, baseNames: ["", configuration.baseName, configuration.model],
                    metrics: metrics)
                try preload()
                let info = served.info
                condition.withLock {
                    self.info = info
                    _status = .ready
                }
            } catch {
                setStatus(.failed("\(error)"))
                finishStopping()
                return
            }
            loop()
            finishStopping()
        }
        thread.name = "tailor-engine"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Stops taking requests; the engine finishes the ones it has, then its thread ends.
    public func shutdown() {
        condition.withLock {
            accepting = false
            stopRequested = true
            condition.signal()
        }
    }

    /// Ends every request at once (a shutdown that ran out of time).
    public func abort() {
        condition.withLock {
            aborting = true
            stopRequested = true
            accepting = false
            condition.signal()
        }
    }

    /// Returns once the engine thread has ended.
    public func waitUntilStopped() async {
        await withCheckedContinuation { continuation in
            let done = condition.withLock {
                if _status == .stopped || { if case .failed = _status { return true } else { return false } }() { return true }
                stoppedWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Queues a request's jobs, all or none (a 429 when the queue has no room for all of them);
    /// their tokens arrive on each job's stream.
    func submit(_ jobs: [GenerationJob]) throws {
        try condition.withLock {
            try checkAccepting()
            guard queued + jobs.count <= configuration.maxQueue else { throw ServingError.queueFull(configuration.maxQueue) }
            queued += jobs.count
            metrics.queueLength.record(Double(queued))
            inbox.append(contentsOf: jobs.map { .generate($0) })
            condition.signal()
        }
    }

    /// Runs `body` on the engine thread between two steps (adapter loading, classification).
    func perform<T: Sendable>(_ body: @escaping (Engine) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            do {
                try condition.withLock {
                    try checkAccepting()
                    inbox.append(.task { continuation.resume(with: Result { try body(self) }) })
                    condition.signal()
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    private func checkAccepting() throws {
        switch _status {
        case .loading: throw ServingError.loading
        case .failed(let message): throw ServingError(status: 503, "the model failed to load: \(message)", type: "server_error")
        case .stopped: throw ServingError.shuttingDown
        case .ready: if !accepting { throw ServingError.shuttingDown }
        }
    }

    private func setStatus(_ status: Status) {
        condition.withLock { _status = status }
    }

    private func finishStopping() {
        let waiters = condition.withLock {
            if case .failed = _status {} else { _status = .stopped }
            defer { stoppedWaiters = [] }
            return stoppedWaiters
        }
        waiters.forEach { $0.resume() }
    }

    private func preload() throws {
        for text in configuration.adapters {
            if let equals = text.firstIndex(of: "=") {
                try adapters.register(String(text[..<equals]), folder: String(text[text.index(after: equals)...]))
            } else {
                _ = try adapters.acquire(text)
                adapters.release(text)
            }
        }
    }

    // MARK: the loop

    private func loop() {
        while true {
            let (work, stopping) = takeWork(block: waiting.isEmpty && running.isEmpty)
            for item in work {
                switch item {
                case .generate(var job):
                    job.taken = .now
                    waiting.append(job)
                case .task(let body): body()
                }
            }
            if condition.withLock({ aborting }) {
                waiting.forEach { $0.events.finish(throwing: ServingError.shuttingDown) }
                leaveQueue(waiting.count)
                waiting = []
                running.forEach { end($0, error: ServingError.shuttingDown) }
            }
            if stopping && waiting.isEmpty && running.isEmpty { return }
            dropAbandoned()
            admit()
            prefill()
            decode()
            metrics.runningBatch.record(Double(running.count))
        }
    }

    private func takeWork(block: Bool) -> ([Work], Bool) {
        condition.lock()
        defer { condition.unlock() }
        while block && inbox.isEmpty && !stopRequested { condition.wait() }
        defer { inbox = [] }
        if aborting {
            for case .generate(let job) in inbox { job.events.finish(throwing: ServingError.shuttingDown) }
            inbox.removeAll { if case .generate = $0 { true } else { false } }
        }
        return (inbox, stopRequested)
    }

    private func leaveQueue(_ count: Int = 1) {
        condition.withLock {
            queued -= count
            metrics.queueLength.record(Double(queued))
        }
    }

    /// Ends requests whose client left or whose time is up, waiting or running.
    private func dropAbandoned() {
        let now = ContinuousClock.now
        waiting.removeAll { job in
            if job.ticket.isCancelled {
                leaveQueue()
                return true
            }
            if let deadline = job.deadline, now > deadline {
                leaveQueue()
                job.events.finish(throwing: ServingError.timedOut(after: configuration.requestTimeout))
                return true
            }
            return false
        }
        for sequence in running where sequence.job.ticket.isCancelled {
            end(sequence, error: nil)
        }
        for sequence in running where sequence.job.deadline.map({ now > $0 }) ?? false {
            end(sequence, error: ServingError.timedOut(after: configuration.requestTimeout))
        }
    }

    private func admit() {
        guard case .generator(let model, _) = served.kind else {
            // A classifier serves no generation: fail what came in (the router refuses it first).
            for job in waiting { job.events.finish(throwing: ServingError.invalid("this server classifies; it does not generate text")) }
            leaveQueue(waiting.count)
            waiting = []
            return
        }
        var held: [GenerationJob] = []
        while running.count < configuration.maxBatch, !waiting.isEmpty {
            let job = waiting.removeFirst()
            let slot: Int?
            do {
                slot = try adapters.acquire(job.adapter)
            } catch {
                leaveQueue()
                job.events.finish(throwing: error)
                continue
            }
            guard let slot else {
                held.append(job)
                continue
            }
            leaveQueue()
            let cache = model.makeCache(capacity: job.promptTokens.count + job.maxTokens)
            running.append(RunningSequence(job: job, slot: slot, cache: cache, tokenizer: served.tokenizer))
        }
        waiting.insert(contentsOf: held, at: 0)
    }

    /// Feeds up to `prefillChunk` prompt tokens, oldest request first.
    private func prefill() {
        guard case .generator(let model, _) = served.kind else { return }
        var budget = configuration.prefillChunk
        for sequence in running where sequence.prefilled < sequence.job.promptTokens.count && budget > 0 {
            let prompt = sequence.job.promptTokens
            let end = min(prompt.count, sequence.prefilled + budget)
            let logits = model.prefill(Array(prompt[sequence.prefilled..<end]), cache: sequence.cache, adapterSlot: sequence.slot)
            metrics.promptTokens.increment(by: Int64(end - sequence.prefilled))
            budget -= end - sequence.prefilled
            sequence.prefilled = end
            if end == prompt.count {
                let vocab = model.vocabularySize
                accept(sequence, logits: Array(UnsafeBufferPointer(start: logits.data + (logits.rows - 1) * vocab, count: vocab)))
            }
        }
        running.removeAll(where: \.isFinished)
    }

    /// One token for every sequence whose prompt is in, all rows in one forward pass.
    private func decode() {
        guard case .generator(let model, _) = served.kind else { return }
        let batch = running.filter { $0.pendingToken != nil }
        guard !batch.isEmpty else { return }
        let logits = model.step(batch: batch.map { $0.pendingToken! }, caches: batch.map(\.cache), adapterSlots: batch.map(\.slot))
        metrics.decodeSteps.increment()
        let vocab = model.vocabularySize
        for (row, sequence) in batch.enumerated() {
            accept(sequence, logits: Array(UnsafeBufferPointer(start: logits.data + row * vocab, count: vocab)))
        }
        running.removeAll(where: \.isFinished)
    }

    /// Picks the next token from `logits` and sends what it adds to the client.
    private func accept(_ sequence: RunningSequence, logits: [Float]) {
        guard case .generator(let model, _) = served.kind else { return }
        let token = TextGenerator.nextToken(logits, sampling: sequence.job.sampling, rng: &sequence.rng)
        let now = ContinuousClock.now
        if let last = sequence.lastTokenAt {
            metrics.timePerToken.recordNanoseconds(Int64((now - last).nanoseconds))
        } else {
            metrics.timeToFirstToken.recordNanoseconds(Int64((now - sequence.job.arrival).nanoseconds))
        }
        sequence.lastTokenAt = now
        if model.eosTokenIds.contains(token) {
            finish(sequence, .stop)
            return
        }
        metrics.generatedTokens.increment()
        let (delta, stopped) = sequence.text.append(token)
        sequence.job.events.yield(.text(delta, token: token))
        if stopped {
            finish(sequence, .stop, flush: false)
        } else if sequence.text.tokens.count >= sequence.job.maxTokens {
            finish(sequence, .length)
        } else {
            sequence.pendingToken = token
        }
    }

    private func finish(_ sequence: RunningSequence, _ reason: FinishReason, flush: Bool = true) {
        if flush {
            let rest = sequence.text.flush()
            if !rest.isEmpty { sequence.job.events.yield(.text(rest, token: nil)) }
        }
        let usage = Usage(prompt: sequence.job.promptTokens.count, completion: sequence.text.tokens.count)
        let engineTime = ContinuousClock.now - (sequence.job.taken ?? sequence.job.arrival)
        sequence.job.events.yield(.finished(reason, usage, tokens: sequence.text.tokens, engineTime: engineTime))
        end(sequence, error: nil)
    }

    private func end(_ sequence: RunningSequence, error: (any Error)?) {
        guard !sequence.isFinished else { return }
        sequence.isFinished = true
        sequence.pendingToken = nil
        adapters.release(sequence.job.adapter)
        if let error { sequence.job.events.finish(throwing: error) } else { sequence.job.events.finish() }
        running.removeAll { $0 === sequence }
    }
}

private extension Duration {
    var nanoseconds: Double { Double(components.seconds) * 1e9 + Double(components.attoseconds) / 1e9 }
}
