/// SGD with momentum, as `torch.optim.SGD` (dampening 0, not Nesterov): g ← g + wd·p;
/// buf ← g on the first step, then momentum·buf + g; p ← p − lr·buf.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let parameters: [Tensor]
    private var buffers: [[Float]?]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        buffers = parameters.map { _ in nil }
    }

    public func update() {
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            let p = parameter.data
            var buffer = buffers[index] ?? []
            let first = buffer.isEmpty
            if momentum != 0 && first { buffer = [Float](repeating: 0, count: parameter.count) }
            for i in 0..<parameter.count {
                var g = grad[i]
                if weightDecay != 0 { g += weightDecay * p[i] }
                if momentum != 0 {
                    buffer[i] = first ? g : momentum * buffer[i] + g
                    g = buffer[i]
                }
                p[i] -= learningRate * g
            }
            if momentum != 0 { buffers[index] = buffer }
        }
    }

    public func zeroGrad() { parameters.forEach { $0.zeroGrad() } }
}
