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
    private var steps: [() -> Void] = []
    private var intermediates: [Tensor] = []

    public init(recording: Bool = true, training: Bool? = nil) {
        self.recording = recording
        self.training = training ?? recording
    }

    /// Marks `output` as depending on `inputs` and records `backward`, unless nothing needs a
    /// gradient. `backward` runs only if a gradient reached `output`.
    /// Public so modules above (Adapters) can define fused ops of their own.
    public func record(_ output: Tensor, _ inputs: [Tensor?], backward: @escaping (UnsafeMutablePointer<Float>) -> Void) {
        guard recording, inputs.contains(where: { $0?.requiresGrad == true }) else { return }
        output.requiresGrad = true
        intermediates.append(output)
        steps.append { [unowned output] in
            guard let gradient = output.grad else { return }
            backward(gradient)
        }
    }

    /// Back-propagates from a scalar `loss` (its gradient seeded with 1), then frees the
    /// intermediates' gradient buffers. Parameters keep theirs.
    /// `seed` scales every gradient (1/N with N accumulated micro-batches averages them).
    public func backward(_ loss: Tensor, seed: Float = 1) {
        precondition(loss.count == 1, "backward starts from a scalar loss")
        loss.gradBuffer()[0] += seed
        for step in steps.reversed() { step() }
        steps.removeAll()
        for tensor in intermediates { tensor.releaseGrad() }
        intermediates.removeAll()
    }
}
