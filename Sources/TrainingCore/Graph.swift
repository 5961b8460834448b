import CTrainingKernels

/// The tape of one forward pass: each op appends its hand-written backward, and ``backward(_:)``
/// runs them in reverse. A graph that does not record (inference, `no_grad`) keeps nothing.
///
/// Gradients accumulate into each tensor's `grad` buffer, so calling forward and backward on
/// several micro-batches before an optimizer step accumulates gradients.
public final class Graph {
    /// Whether ops record their backward.
    public let recording: Bool
    /// Training mode: dropout active.
    public let training: Bool
    /// The adapter slot of each sequence of this pass on a model serving several adapters (rows
    /// split evenly among sequences); empty: every row uses the plain base. Carried by the pass,
    /// not by the model, so concurrent passes can route differently.
    public let adapterSlots: [Int]
    /// The precision ops compute in (``ComputeDType``).
    public let computeDType: ComputeDType
    /// The dropout seeds a checkpointed block drew in its forward pass, so that its recomputation
    /// in backward drops the same values (without drawing from the generators again).
    var dropoutSeeds: DropoutSeeds?
    private var steps: [() -> Void] = []
    private var intermediates: [Tensor] = []
    /// Per step, the output whose gradient is dead once the step has run (its earliest step:
    /// every consumer's backward ran before it).
    private var releasesAfter: [Tensor?] = []
    private var recorded = Set<ObjectIdentifier>()
    /// During backward: the running step's output when that step is the last to read its
    /// gradient (its buffer may then be handed down instead of copied).
    private var finalReadOf: Tensor?

    public init(recording: Bool = true, training: Bool? = nil, adapterSlots: [Int] = [], computeDType: ComputeDType = .f32) {
        self.recording = recording
        self.training = training ?? recording
        self.adapterSlots = adapterSlots
        self.computeDType = computeDType
    }

    /// Marks `output` as depending on `inputs` and records `backward`, unless nothing needs a
    /// gradient. `backward` runs only if a gradient reached `output`.
    /// Public so modules above (Adapters) can define fused ops of their own.
    public func record(_ output: Tensor, _ inputs: [Tensor?], backward: @escaping (UnsafeMutablePointer<Float>) -> Void) {
        guard inputs.contains(where: { $0?.requiresGrad == true }) else { return }
        recordAlways(output, backward: backward)
    }

    /// ``record(_:_:backward:)`` without asking the inputs: for an op whose parameters are out
    /// of sight (a checkpointed block holds its own).
    func recordAlways(_ output: Tensor, backward: @escaping (UnsafeMutablePointer<Float>) -> Void) {
        guard recording else { return }
        output.requiresGrad = true
        intermediates.append(output)
        steps.append { [unowned output] in
            guard let gradient = output.grad else { return }
            backward(gradient)
        }
        // Backward runs steps in reverse, so an output's first recorded step runs last for it.
        releasesAfter.append(recorded.insert(ObjectIdentifier(output)).inserted ? output : nil)
    }

    /// Back-propagates from a scalar `loss` (its gradient seeded with 1), then frees the
    /// intermediates' gradient buffers. Parameters keep theirs.
    /// `seed` scales every gradient (1/N with N accumulated micro-batches averages them).
    public func backward(_ loss: Tensor, seed: Float = 1) {
        precondition(loss.count == 1, "backward starts from a scalar loss")
        loss.gradBuffer()[0] += seed
        runSteps(from: loss)
    }

    /// Back-propagates `gradient` (output-sized) from `output`, as ``backward(_:seed:)`` does
    /// from a loss: a recomputed block continues the outer pass's backward this way.
    func backward(from output: Tensor, gradient: UnsafePointer<Float>) {
        accumulate(gradient, into: output)
        runSteps(from: output)
    }

    private func runSteps(from loss: Tensor) {
        // Freeing each intermediate's gradient as soon as it is consumed keeps the peak low and
        // lets later gradients reuse warm memory.
        for index in steps.indices.reversed() {
            finalReadOf = releasesAfter[index] === loss ? nil : releasesAfter[index]
            steps[index]()
            finalReadOf?.releaseGrad()
        }
        finalReadOf = nil
        steps.removeAll()
        releasesAfter.removeAll()
        recorded.removeAll()
        for tensor in intermediates { tensor.releaseGrad() }
        intermediates.removeAll()
    }

    /// Adds `output`'s gradient into `input`'s, from `output`'s backward (an op whose input
    /// gradient is its output gradient: residual adds, reshapes). When the step is the last to
    /// read `output`'s gradient and `input` has none yet, the buffer is handed over instead of
    /// copied.
    func passGradient(from output: Tensor, to input: Tensor) {
        guard let incoming = output.grad else { return }
        if finalReadOf === output, input.grad == nil, input !== output {
            input.adoptGrad(of: output)
            return
        }
        accumulate(incoming, into: input)
    }

    /// Adds `gradient` (input-sized) into `input`'s gradient, on every core.
    func accumulate(_ gradient: UnsafePointer<Float>, into input: Tensor) {
        let target = input.gradBuffer()
        Parallel.forRanges(input.count, grain: 1 << 15) { r in
            tk_add_inplace(target + r.lowerBound, gradient + r.lowerBound, Int64(r.count))
        }
    }
}
