import Foundation
import Testing

@testable import TrainingCore

/// Every op's hand-written backward against central finite differences of its forward.
@Suite struct GradientCheckTests {
    /// Builds loss = Σ output ⊙ R (fixed random R) and compares d loss / d input for every input.
    static func check(
        _ inputs: [Tensor], tolerance: Float = 2e-2, training: Bool = false, _ build: (Graph, [Tensor]) -> Tensor,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var rng = RandomGenerator(seed: 1234)
        let probe = build(Graph(recording: false, training: training), inputs)
        let weights = (0..<probe.count).map { _ in rng.nextNormal() }
        func loss() -> Double {
            let out = build(Graph(recording: false, training: training), inputs)
            return zip(out.values, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        for input in inputs {
            input.requiresGrad = true
            input.zeroGrad()
        }
        let graph = Graph(recording: true, training: training)
        let out = build(graph, inputs)
        let weighted = Tensor(zeros: [])
        weighted.data[0] = zip(out.values, weights).reduce(0) { $0 + $1.0 * $1.1 }
        // Seed the output's gradient with R directly: d(Σ out·R)/d out = R.
        let seed = out.gradBuffer()
        for i in 0..<out.count { seed[i] = weights[i] }
        graph.backward(Tensor(zeros: []))
        for (index, input) in inputs.enumerated() {
            let analytic = input.gradValues
            let scale = max(analytic.map { abs($0) }.max() ?? 0, 1e-3)
            var worst: Float = 0
            for i in stride(from: 0, to: input.count, by: max(1, input.count / 97)) {
                let saved = input.data[i]
                let h = max(abs(saved), 1) * 1e-2
                input.data[i] = saved + h
                let up = loss()
                input.data[i] = saved - h
                let down = loss()
                input.data[i] = saved
                let numeric = Float((up - down) / (2 * Double(h)))
                worst = max(worst, abs(numeric - analytic[i]) / scale)
            }
            #expect(worst < tolerance, "input \(index) (\(input.shape)): max relative error \(worst)", sourceLocation: sourceLocation)
        }
    }

    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextNormal() * scale }, shape: shape)
    }

    @Test func linear() {
        Self.check([Self.random([5, 7], seed: 1), Self.random([4, 7], seed: 2), Self.random([4], seed: 3)]) { g, t in
            g.linear(t[0], t[1], t[2])
        }
    }

    @Test func layerNormAndRMSNorm() {
        Self.check([Self.random([6, 16], seed: 4), Self.random([16], seed: 5), Self.random([16], seed: 6)]) { g, t in
            g.layerNorm(t[0], weight: t[1], bias: t[2], eps: 1e-5)
        }
        Self.check([Self.random([6, 16], seed: 7), Self.random([16], seed: 8)]) { g, t in
            g.rmsNorm(t[0], weight: t[1], eps: 1e-6)
        }
    }

    @Test func activations() {
        Self.check([Self.random([3, 50], seed: 9, scale: 2)]) { g, t in g.gelu(t[0]) }
        Self.check([Self.random([3, 50], seed: 15, scale: 3)]) { g, t in g.geluTanh(t[0]) }
        Self.check([Self.random([3, 50], seed: 10)]) { g, t in g.tanh(t[0]) }
        Self.check([Self.random([3, 50], seed: 11, scale: 2), Self.random([3, 50], seed: 12)]) { g, t in g.siluMul(t[0], t[1]) }
        Self.check([Self.random([3, 50], seed: 13), Self.random([3, 50], seed: 14)]) { g, t in g.add(t[0], t[1]) }
    }

    @Test(arguments: [(4, 4, false, false), (4, 2, true, false), (2, 1, true, true)])
    func attention(heads: Int, kvHeads: Int, causal: Bool, padded: Bool) {
        let (batch, length, dim) = (2, 5, 3)
        let keep: [Bool]? = padded ? (0..<(batch * length)).map { $0 != 4 && $0 != 8 && $0 != 9 } : nil
        Self.check([
            Self.random([batch * length, heads * dim], seed: 20), Self.random([batch * length, kvHeads * dim], seed: 21),
            Self.random([batch * length, kvHeads * dim], seed: 22),
        ]) { g, t in
            g.attention(
                q: t[0], k: t[1], v: t[2], batch: batch, queryLength: length, keyLength: length, heads: heads,
                kvHeads: kvHeads, headDim: dim, mask: AttentionMask(keyIsToken: keep, causal: causal), scale: 0.7)
        }
    }

    @Test func rotaryEmbedding() {
        let rope = RotaryEmbedding(headDim: 8, theta: 10000)
        let (cos, sin) = rope.tables(positions: Array(0..<3))
        Self.check([Self.random([2 * 3, 2 * 8], seed: 30)]) { g, t in
            g.rope(t[0], batch: 2, length: 3, heads: 2, headDim: 8, cos: cos, sin: sin)
        }
    }

    @Test func dropoutMaskIsReproducibleAndBackpropagated() {
        Self.check([Self.random([4, 64], seed: 50)], training: true) { g, t in
            var rng = RandomGenerator(seed: 9)  // same seed every evaluation: the same mask
            return g.dropout(t[0], p: 0.3, rng: &rng)
        }
        let x = Tensor([Float](repeating: 1, count: 100_000), shape: [100_000])
        var rng = RandomGenerator(seed: 3)
        let y = Graph(recording: false, training: true).dropout(x, p: 0.3, rng: &rng).values
        let kept = y.filter { $0 != 0 }
        #expect(abs(Double(kept.count) / 100_000 - 0.7) < 0.01, "kept \(kept.count)")
        #expect(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
        #expect(Graph(recording: false, training: false).dropout(x, p: 0.3, rng: &rng) === x, "identity outside training")
    }

    @Test func lossesAndLookups() {
        Self.check([Self.random([4, 6], seed: 40)]) { g, t in g.crossEntropy(t[0], targets: [1, -100, 5, 0]) }
        Self.check([Self.random([10, 4], seed: 41)]) { g, t in g.embedding([3, 1, 3, 9, 0], shape: [5], t[0]) }
        Self.check([Self.random([6, 4], seed: 42)]) { g, t in g.selectRows(t[0], [0, 3, 3]) }
        Self.check([Self.random([2 * 3, 4], seed: 43)]) { g, t in
            g.meanPool(t[0], batch: 2, length: 3, keep: [true, true, false, true, false, false])
        }
        Self.check([Self.random([2, 6], seed: 44)]) { g, t in g.reshape(t[0], [3, 4]) }
    }

    /// gelu_new's values are the formula's, evaluated in double precision, to float rounding.
    @Test func geluTanhIsTheTanhApproximation() {
        let x = Self.random([4, 64], seed: 16, scale: 4)
        let y = Graph(recording: false).geluTanh(x).values
        for (input, output) in zip(x.values, y) {
            let v = Double(input)
            let expected = 0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
            #expect(abs(Double(output) - expected) <= 2e-6 * max(1, abs(expected)), "gelu_new(\(input)) = \(output), not \(expected)")
        }
        // Its derivative, against the formula's in double precision (finite differences in f32
        // cannot see a wrong cubic coefficient).
        x.requiresGrad = true
        let graph = Graph(recording: true)
        let out = graph.geluTanh(x)
        let seed = out.gradBuffer()
        for i in 0..<out.count { seed[i] = 1 }
        graph.backward(Tensor(zeros: []))
        let c = (2 / Double.pi).squareRoot()
        for (input, gradient) in zip(x.values, x.gradValues) {
            let v = Double(input), t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
            let expected = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
            #expect(abs(Double(gradient) - expected) <= 1e-5, "gelu_new'(\(input)) = \(gradient), not \(expected)")
        }
    }
}
