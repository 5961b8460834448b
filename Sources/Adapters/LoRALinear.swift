import TrainingCore

/// LoRA on one Linear layer: y = W·x + b + scale · B·A·dropout(x), with A `[r, in]` and
/// B `[out, r]` (PEFT's `lora_A.weight` / `lora_B.weight`). The base weight stays frozen (and
/// may be 4-bit: QLoRA).
public final class LoRALinear: LinearAdapter, @unchecked Sendable {
    public let moduleName: String
    public let a: Tensor
    public let b: Tensor
    public let scale: Float
    public let dropout: Float
    /// Seeds the dropout masks.
    public var rng: RandomGenerator
    /// False: the adapter is attached but inactive (outputs are the base model's).
    public var enabled = true

    public init(moduleName: String, a: Tensor, b: Tensor, scale: Float, dropout: Float, seed: UInt64) {
        self.moduleName = moduleName
        self.a = a
        self.b = b
        self.scale = scale
        self.dropout = dropout
        rng = RandomGenerator(seed: seed)
    }

    public var rank: Int { a.shape[0] }

    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor {
        guard enabled else { return y }
        let dropped = graph.dropout(x, p: dropout, rng: &rng)
        let delta = graph.linear(graph.linear(dropped, a), b)
        return graph.addScaled(y, delta, factor: scale)
    }

    /// ΔW = scale · B·A, `[out, in]`, in f32: what merging adds to the base weight.
    public func deltaWeight() -> [Float] {
        let (out, r, inFeatures) = (b.shape[0], a.shape[0], a.shape[1])
        var delta = [Float](repeating: 0, count: out * inFeatures)
        delta.withUnsafeMutableBufferPointer { d in
            Matmul.gemm(.none, .none, m: out, n: inFeatures, k: r, alpha: scale, a: b.data, lda: r, b: a.data, ldb: inFeatures,
                        c: d.baseAddress!, ldc: inFeatures)
        }
        return delta
    }
}
