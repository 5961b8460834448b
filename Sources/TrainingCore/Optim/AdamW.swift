import CTrainingKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AdamW with PyTorch's semantics (`torch.optim.AdamW`): decoupled weight decay applied to the
/// parameter before the Adam update, bias-corrected moments, eps added to the corrected root.
/// Frozen parameters are never passed in, so they get no state.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    public private(set) var step = 0
    public let parameters: [Tensor]
    private var moments: [UnsafeMutablePointer<Float>]
    private var velocities: [UnsafeMutablePointer<Float>]

    public init(
        parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0.01
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        moments = parameters.map { p in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
            buffer.initialize(repeating: 0, count: max(p.count, 1))
            return buffer
        }
        velocities = parameters.map { p in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
            buffer.initialize(repeating: 0, count: max(p.count, 1))
            return buffer
        }
    }

    deinit {
        moments.forEach { $0.deallocate() }
        velocities.forEach { $0.deallocate() }
    }

    /// One update from the accumulated gradients (parameters without a gradient are skipped).
    public func update() {
        step += 1
        let bias1 = 1 - powf(beta1, Float(step))
        let bias2 = 1 - powf(beta2, Float(step))
        let stepSize = learningRate / bias1
        let bias2Root = sqrtf(bias2)
        let decay = 1 - learningRate * weightDecay
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            let m = moments[index], v = velocities[index], p = parameter.data
            let (b1, b2, eps) = (beta1, beta2, eps)
            // m follows torch's exp_avg.lerp_(grad, 1 − β1) form; see tk_adamw.
            Parallel.forRanges(parameter.count, grain: 1 << 15) { r in
                tk_adamw(
                    p + r.lowerBound, grad + r.lowerBound, m + r.lowerBound, v + r.lowerBound, Int64(r.count),
                    decay, b1, b2, stepSize, bias2Root, eps)
            }
        }
    }

    /// The moments of parameter `index` and the step count, to save a checkpoint.
    public func state(of index: Int) -> (moment: [Float], velocity: [Float]) {
        let count = parameters[index].count
        return (
            Array(UnsafeBufferPointer(start: moments[index], count: count)),
            Array(UnsafeBufferPointer(start: velocities[index], count: count))
        )
    }

    /// Restores a checkpoint's moments and step count.
    public func restore(step: Int, states: [(moment: [Float], velocity: [Float])]) {
        precondition(states.count == parameters.count)
        self.step = step
        for (index, state) in states.enumerated() {
            precondition(state.moment.count == parameters[index].count && state.velocity.count == parameters[index].count)
            moments[index].update(from: state.moment, count: state.moment.count)
            velocities[index].update(from: state.velocity, count: state.velocity.count)
        }
    }

    /// Zeroes every parameter's gradient.
    public func zeroGrad() { parameters.forEach { $0.zeroGrad() } }
}
