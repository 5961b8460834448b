import Foundation
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
    /// DoRA's row norms and the A, B and stack weight they were computed from: recomputing them
    /// reads the whole base weight (dequantized), as costly as the layer itself, so a decode step
    /// reuses them while A and B are unchanged (comparing them costs r·(in + out), not out·in).
    private var normCache: (a: [Float], b: [Float], stackWeight: Float, norms: [Float])?
    private let normCacheLock = NSLock()

    public init(
        moduleName: String, a: Tensor, b: Tensor, scale: Float, dropout: Float, seed: UInt64,
        magnitude: Tensor? = nil, base: LinearLayer? = nil
    ) {
        self.moduleName = moduleName
        self.a = a
        self.b = b
        self.scale = scale
        self.dropout = dropout
        self.magnitude = magnitude
        // Only the weight and bias are read; the layer's adapters (this one's neighbours, a
        // switchable model's router holding this very adapter) would form a reference cycle.
        self.base = base.map { layer in
            var plain = layer
            plain.adapters = []
            return plain
        }
        rng = RandomGenerator(seed: seed)
    }

    public var rank: Int { a.shape[0] }

    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor {
        guard enabled else { return y }
        let dropped = graph.dropout(x, p: dropout, rng: &rng)
        let delta = graph.linear(graph.linear(dropped, a), b)
        guard let magnitude, let base else { return graph.addScaled(y, delta, factor: scale * stackWeight) }
        let norms = currentWeightNorms()
        if dropped === x {
            return graph.doraCombine(
                y, base: y, subtracting: base.bias, lora: delta, magnitude: magnitude, norms: norms,
                scale: scale * stackWeight)
        }
        let baseTerm: Tensor
        switch base.weight {
        case .dense(let w): baseTerm = graph.linear(dropped, w, nil)
        case .quantized(let q): baseTerm = graph.storedLinear(dropped, q, nil)
        case .half(let b): baseTerm = graph.storedLinear(dropped, b, nil)
        }
        return graph.doraCombine(
            y, base: baseTerm, subtracting: nil, lora: delta, magnitude: magnitude, norms: norms,
            scale: scale * stackWeight)
    }

    /// ``weightNorms()``, from the cache when A, B and the stack weight are what they were.
    func currentWeightNorms() -> [Float] {
        let aValues = a.values, bValues = b.values
        return normCacheLock.withLock {
            if let cached = normCache, cached.stackWeight == stackWeight, cached.a == aValues, cached.b == bValues { return cached.norms }
            let norms = weightNorms()
            normCache = (aValues, bValues, stackWeight, norms)
            return norms
        }
    }

    /// ‖W + s·B·A‖ per output row (DoRA's denominator), recomputed from the current A and B.
    public func weightNorms() -> [Float] {
        guard let base else { return [] }
        let weight = base.weight.denseValues()
        let delta = deltaWeight()
        let (out, inFeatures) = (b.shape[0], a.shape[1])
        var norms = [Float](repeating: 0, count: out)
        norms.withUnsafeMutableBufferPointer { result in
            let result = result.baseAddress!
            Parallel.forRanges(out, grain: 16) { rows in
                for row in rows {
                    var sum: Double = 0
                    for c in 0..<inFeatures {
                        let v = Double(weight[row * inFeatures + c] + delta[row * inFeatures + c])
                        sum += v * v
                    }
                    result[row] = Float(sum.squareRoot())
                }
            }
        }
        return norms
    }

    /// ΔW = w · scale · B·A, `[out, in]`, in f32 (w the stack weight): what merging adds to the
    /// base weight.
    public func deltaWeight() -> [Float] {
        let (out, r, inFeatures) = (b.shape[0], a.shape[0], a.shape[1])
        var delta = [Float](repeating: 0, count: out * inFeatures)
        delta.withUnsafeMutableBufferPointer { d in
            Matmul.gemm(
                .none, .none, m: out, n: inFeatures, k: r, alpha: scale * stackWeight, a: b.data, lda: r, b: a.data,
                ldb: inFeatures, c: d.baseAddress!, ldc: inFeatures)
        }
        return delta
    }
}

extension Graph {
    /// DoRA's output: y + (g − 1)·(base − bias) + g·s·lora with g = m / norms per column; the
    /// norms are constants (PEFT detaches them).
    func doraCombine(
        _ y: Tensor, base: Tensor, subtracting bias: Tensor?, lora: Tensor, magnitude: Tensor, norms: [Float],
        scale: Float
    ) -> Tensor {
        let columns = y.columns, rows = y.rows
        let out = Tensor(uninitialized: y.shape)
        // Per-column factors in one tensor, read through raw pointers in the hot loops (Swift arrays
        // there cost bounds checks on every element): g − 1, g·s, the bias, 1/norm.
        let g = (0..<columns).map { magnitude.data[$0] / norms[$0] }
        let factors = Tensor(
            g.map { $0 - 1 } + g.map { $0 * scale } + (bias?.values ?? [Float](repeating: 0, count: columns))
                + norms.map { 1 / $0 }, shape: [4, columns])
        let (baseFactor, loraFactor, biases, inverseNorms) = (
            UnsafePointer(factors.data), UnsafePointer(factors.data + columns),
            UnsafePointer(factors.data + 2 * columns),
            UnsafePointer(factors.data + 3 * columns)
        )
        let grain = max(1, (1 << 14) / max(columns, 1))
        let (os, ys, bs, ls) = (out.data, UnsafePointer(y.data), UnsafePointer(base.data), UnsafePointer(lora.data))
        Parallel.forRanges(rows, grain: grain) { range in
            for r in range {
                let (o, yr, br, lr) = (os + r * columns, ys + r * columns, bs + r * columns, ls + r * columns)
                for c in 0..<columns { o[c] = yr[c] + baseFactor[c] * (br[c] - biases[c]) + loraFactor[c] * lr[c] }
            }
        }
        // A trained bias (bias="all"/"lora_only") reaches y with gradient dOut but is taken out of
        // the base term again: its gradient is dOut − (g − 1)·dOut summed over rows, as in PEFT.
        let trainedBias = bias.flatMap { $0.requiresGrad ? $0 : nil }
        record(out, [y, base, lora, magnitude] + (trainedBias.map { [$0] } ?? [])) { dOut in
            withExtendedLifetime(factors) {
                // y's gradient is dOut itself: added, or (fresh) copied.
                for (input, factor) in [(y, nil), (base, baseFactor), (lora, loraFactor)] where input.requiresGrad {
                    let (grad, accumulate) = input.gradBufferForWriting()
                    Parallel.forRanges(rows, grain: grain) { range in
                        for r in range {
                            let (gr, dr) = (grad + r * columns, UnsafePointer(dOut) + r * columns)
                            switch (factor, accumulate) {
                            case (nil, true): for c in 0..<columns { gr[c] += dr[c] }
                            case (nil, false): gr.update(from: dr, count: columns)
                            case (let f?, true): for c in 0..<columns { gr[c] += f[c] * dr[c] }
                            case (let f?, false): for c in 0..<columns { gr[c] = f[c] * dr[c] }
                            }
                        }
                    }
                }
                if magnitude.requiresGrad {
                    let chunks = Parallel.chunkCount(rows, grain: grain)
                    let partial = Tensor(zeros: [chunks, columns])
                    Parallel.forChunks(rows, grain: grain) { chunk, range in
                        let p = partial.data + chunk * columns
                        for r in range {
                            let (dr, br, lr) = (UnsafePointer(dOut) + r * columns, bs + r * columns, ls + r * columns)
                            for c in 0..<columns { p[c] += dr[c] * ((br[c] - biases[c]) + scale * lr[c]) * inverseNorms[c] }
                        }
                    }
                    let grad = magnitude.gradBuffer()
                    for chunk in 0..<chunks { for c in 0..<columns { grad[c] += partial.data[chunk * columns + c] } }
                }
                if let trainedBias {
                    let grad = trainedBias.gradBuffer()
                    for r in 0..<rows {
                        let dr = UnsafePointer(dOut) + r * columns
                        for c in 0..<columns { grad[c] -= baseFactor[c] * dr[c] }
                    }
                }
            }
        }
        return out
    }
}
