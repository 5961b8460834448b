/// Something added to a Linear layer's output from its input: a LoRA update, an IA3 scale, a
/// stack of several adapters. Defined here so the models' layers can carry adapters that the
/// Adapters module implements.
public protocol LinearAdapter: AnyObject, Sendable {
    /// The input the base layer sees (IA3 on a feed-forward layer scales it); identity by default.
    func prepareInput(_ graph: Graph, _ x: Tensor) -> Tensor
    /// True when ``prepareInput(_:_:)`` is not the identity, so the base output depends on it.
    var changesInput: Bool { get }
    /// Returns the layer's new output given its input `x` and the base output `y`.
    func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor
}

extension LinearAdapter {
    public func prepareInput(_ graph: Graph, _ x: Tensor) -> Tensor { x }
    public var changesInput: Bool { false }
}

extension LinearLayer.Weight {
    /// Bytes the weight occupies as held, which each product reads: 4 per f32 value, 2 per bf16
    /// one, a 4-bit weight's packed codes plus its block scales.
    public var storedBytes: Int {
        switch self {
        case .dense(let tensor): return tensor.count * 4
        case .half(let b): return b.outFeatures * b.inFeatures * 2
        case .quantized(let q):
            return q.weight.packed.count + (q.weight.absmax?.count ?? 0) * 4
                + (q.weight.nested.map { $0.codes.count + $0.nestedAbsmax.count * 4 } ?? 0)
        }
    }

    /// The weight `[out, in]` in f32 (a 4-bit weight dequantized).
    public func denseValues() -> [Float] {
        switch self {
        case .dense(let tensor): return tensor.values
        case .quantized(let q): return q.weight.dequantized()
        case .half(let b): return b.widened()
        }
    }
}

/// A Linear layer: a dense weight (trainable or frozen) or a frozen 4-bit one, a bias, and the
/// adapters applied on top (in order).
public struct LinearLayer: Sendable {
    public enum Weight: Sendable {
        case dense(Tensor)
        case quantized(QuantizedLinearWeight)
        /// Frozen bf16 or f16, read from the checkpoint where it lies.
        case half(HalfLinearWeight)
    }
    public var weight: Weight
    public var bias: Tensor?
    public var adapters: [any LinearAdapter] = []

    public init(weight: Weight, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    public var outFeatures: Int {
        switch weight {
        case .dense(let tensor): return tensor.shape[0]
        case .quantized(let q): return q.outFeatures
        case .half(let b): return b.outFeatures
        }
    }
    public var inFeatures: Int {
        switch weight {
        case .dense(let tensor): return tensor.shape[1]
        case .quantized(let q): return q.inFeatures
        case .half(let b): return b.inFeatures
        }
    }
}

extension Graph {
    /// y = x · Wᵀ + b for any ``LinearLayer``, then its adapters.
    public func linear(_ x: Tensor, _ layer: LinearLayer) -> Tensor {
        var input = x
        for adapter in layer.adapters { input = adapter.prepareInput(self, input) }
        var y: Tensor
        switch layer.weight {
        case .dense(let weight): y = linear(input, weight, layer.bias)
        case .quantized(let weight): y = storedLinear(input, weight, layer.bias)
        case .half(let weight): y = storedLinear(input, weight, layer.bias)
        }
        for adapter in layer.adapters { y = adapter.apply(self, input: x, baseOutput: y) }
        return y
    }
}
