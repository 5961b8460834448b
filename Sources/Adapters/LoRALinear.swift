import TrainingCore

/// LoRA on one Linear layer: y = W·x + b + scale · B·A·dropout(x), with A `[r, in]` and
/// B `[out, r]` (PEFT's `lora_A.weight` / `lora_B.weight`). The base weight stays frozen (and
/// may be 4-bit: QLoRA).
///
/// With a magnitude vector m `[out]` it is DoRA, as PEFT computes it: with g = m / ‖W + s·B·A‖
/// (row norms, treated as a constant in backward), y = W·x + b + (g − 1)·W·x' + g·s·B·A·x'
/// where x' is the dropped-out input (W·x' is the base output minus its bias when dropout is off).
public final class LoRALinear: LinearAdapter, @unchecked Sendable {
    public let moduleName: String
    public let a: Tensor
    public let b: Tensor
    public let scale: Float
    public let dropout: Float
    /// DoRA's magnitude `[out]` (`lora_magnitude_vector`), nil for plain LoRA.
    public let magnitude: Tensor?
    /// The frozen base layer, for DoRA's weight norm and its base term.
    let base: LinearLayer?
    /// Seeds the dropout masks.
    public var rng: RandomGenerator
    /// False: the adapter is attached but inactive (outputs are the base model's).
    public var enabled = true
    /// The adapter's weight in a stack (`--adapter a:0.7`): it multiplies the update, ΔW = w·s·B·A.
    public var stackWeight: Float = 1

    public init(moduleName: String, a: Tensor, b: Tensor, scale: Float, dropout: Float, seed: UInt64,
                magnitude: Tensor? = nil, base: LinearLayer? = nil) {
        self.moduleName = moduleName
        self.a = a
        self.b = b
        self.scale = scale
        self.dropout = dropout
        self.magnitude = magnitude
        self.base = base
        rng = RandomGenerator(seed: seed)
    }

    public var rank: Int { a.shape[0] }

    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor {
        guard enabled else { return y }
        let dropped = graph.dropout(x, p: dropout, rng: &rng)
        let delta = graph.linear(graph.linear(dropped, a), b)
        guard let magnitude, let base else { return graph.addScaled(y, delta, factor: scale * stackWeight) }
        let norms = weightNorms()
        if dropped === x {
            return graph.doraCombine(y, base: y, subtracting: base.bias, lora: delta, magnitude: magnitude, norms: norms, scale: scale)
        }
        let baseTerm: Tensor
        switch base.weight {
        case .dense(let w): baseTerm = graph.linear(dropped, w, nil)
        case .quantized(let q): baseTerm = graph.quantizedLinear(dropped, q, nil)
        }
        return graph.doraCombine(y, base: baseTerm, subtracting: nil, lora: delta, magnitude: magnitude, norms: norms, scale: scale)
    }

    /// ‖W + s·B·A‖ per output row (DoRA's denominator), recomputed from the current A and B.
    public func weightNorms() -> [Float] {
        guard let base else { return [] }
        let weight = base.weight.denseValues()
        let delta = deltaWeight()
        let (out, inFeatures) = (b.shape[0], a.shape[1])
        return (0..<out).map { row in
            var sum: Double = 0
            for c in 0..<inFeatures {
                let v = Double(weight[row * inFeatures + c] + delta[row * inFeatures + c])
                sum += v * v
            }
            return Float(sum.squareRoot())
        }
    }

    /// ΔW = w · scale · B·A, `[out, in]`, in f32 (w the stack weight): what merging adds to the
    /// base weight.
    public func deltaWeight() -> [Float] {
        let (out, r, inFeatures) = (b.shape[0], a.shape[0], a.shape[1])
        var delta = [Float](repeating: 0, count: out * inFeatures)
        delta.withUnsafeMutableBufferPointer { d in
            Matmul.gemm(.none, .none, m: out, n: inFeatures, k: r, alpha: scale * stackWeight, a: b.data, lda: r, b: a.data, ldb: inFeatures,
                        c: d.baseAddress!, ldc: inFeatures)
        }
        return delta
    }
}

extension Graph {
    /// DoRA's output: y + (g − 1)·(base − bias) + g·s·lora with g = m / norms per column; the
    /// norms are constants (PEFT detaches them).
    func doraCombine(_ y: Tensor, base: Tensor, subtracting bias: Tensor?, lora: Tensor, magnitude: Tensor, norms: [Float],
                     scale: Float) -> Tensor {
        let columns = y.columns, rows = y.rows
        let out = Tensor(uninitialized: y.shape)
        let g = (0..<columns).map { magnitude.data[$0] / norms[$0] }
        let biasValues = bias?.values ?? [Float](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let i = r * columns + c
                out.data[i] = y.data[i] + (g[c] - 1) * (base.data[i] - biasValues[c]) + g[c] * scale * lora.data[i]
            }
        }
        record(out, [y, base, lora, magnitude]) { dOut in
            if y.requiresGrad {
                let grad = y.gradBuffer()
                for i in 0..<(rows * columns) { grad[i] += dOut[i] }
            }
            if base.requiresGrad {
                let grad = base.gradBuffer()
                for r in 0..<rows { for c in 0..<columns { grad[r * columns + c] += (g[c] - 1) * dOut[r * columns + c] } }
            }
            if lora.requiresGrad {
                let grad = lora.gradBuffer()
                for r in 0..<rows { for c in 0..<columns { grad[r * columns + c] += g[c] * scale * dOut[r * columns + c] } }
            }
            if magnitude.requiresGrad {
                let grad = magnitude.gradBuffer()
                for r in 0..<rows {
                    for c in 0..<columns {
                        let i = r * columns + c
                        grad[c] += dOut[i] * ((base.data[i] - biasValues[c]) + scale * lora.data[i]) / norms[c]
                    }
                }
            }
        }
        return out
    }
}
