import Foundation
import Inference
import Models
import Synchronization
import Tokenizers
import TrainingCore

/// What the engine sends back about one sequence.
enum GenerationEvent: Sendable {
    /// Text that may be shown now (possibly empty: a token that ends half a character, or text
    /// held back because a stop string may start there), and the token that produced it.
    case text(String, token: Int?)
    /// `engineTime`: from the engine taking the job to its end (what `Server-Timing` reports).
    case finished(FinishReason, Usage, tokens: [Int], engineTime: Duration)
}

/// Lets a request's handler tell the engine its client has gone.
final class Ticket: Sendable {
    private let cancelled = Atomic<Bool>(false)
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    func cancel() { cancelled.store(true, ordering: .relaxed) }
}

/// One sequence to generate, as a request handler hands it to the engine.
struct GenerationJob: Sendable {
    var adapter: String
    var promptTokens: [Int]
    var maxTokens: Int
    var sampling: Sampling
    var stops: [String]
    var arrival = ContinuousClock.now
    /// When the engine thread took it from the inbox.
    var taken: ContinuousClock.Instant?
    var deadline: ContinuousClock.Instant?
    let ticket = Ticket()
    let events: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
}

/// A sequence in the running batch: its cache, where its prompt is, what it generated.
final class RunningSequence {
    let job: GenerationJob
    let slot: Int
    let cache: KVCache
    var prefilled = 0
    /// The token to feed at the next decode step (nil while prefilling and once finished).
    var pendingToken: Int?
    var rng: RandomGenerator
    var text: TextStream
    var lastTokenAt: ContinuousClock.Instant?
    var isFinished = false

    init(job: GenerationJob, slot: Int, cache: KVCache, tokenizer: Tokenizer) {
        self.job = job
        self.slot = slot
        self.cache = cache
        if case .sample(_, _, _, let seed) = job.sampling { rng = RandomGenerator(seed: seed) } else { rng = RandomGenerator(seed: 0) }
        text = TextStream(tokenizer: tokenizer, stops: job.stops)
    }
}
