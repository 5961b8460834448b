import Testing

@testable import TrainingCore

/// The two ways training trades compute for memory give the gradients the plain graph gives:
/// the causal-LM loss run through the head a few rows at a time, and checkpointed blocks.
@Suite struct MemorySavingTests {
    static func random(_ shape: [Int], _ rng: inout RandomGenerator, requiresGrad: Bool = false) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor((0..<count).map { _ in rng.nextNormal() }, shape: shape, requiresGrad: requiresGrad)
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    /// Loss and gradient of `hidden` for both paths; `chunkBytes` of 3 rows splits 9 counted rows
    /// into 3 chunks, and the uncounted rows must get no gradient.
    @Test(arguments: [3 * 4 * 11, 1, 1 << 20])
    func chunkedLossEqualsWholeLogits(chunkBytes: Int) {
        var rng = RandomGenerator(seed: 7)
        let hidden = Self.random([13, 6], &rng, requiresGrad: true)
        let head = LinearLayer(weight: .dense(Self.random([11, 6], &rng)), bias: Self.random([11], &rng))
        let targets = [3, -100, 0, 10, 4, -100, -100, 7, 7, 2, 1, -100, 5]

        let whole = Graph()
        let expected = whole.crossEntropy(whole.linear(hidden, head), targets: targets)
        whole.backward(expected, seed: 0.7)
        let expectedGradient = hidden.gradValues
        hidden.releaseGrad()

        let chunked = Graph()
        let loss = chunked.crossEntropy(hidden: hidden, head: head, targets: targets, chunkBytes: chunkBytes)
        #expect(abs(loss.data[0] - expected.data[0]) < 1e-5)
        chunked.backward(loss, seed: 0.7)
        #expect(Self.maxDifference(hidden.gradValues, expectedGradient) < 1e-6)
        for row in targets.indices where targets[row] < 0 {
            #expect(hidden.gradValues[(row * 6)..<(row * 6 + 6)].allSatisfy { $0 == 0 }, "row \(row) has no target")
        }
        // Held in a constant: `.data` of a temporary would read freed memory.
        let inferenceLoss = Graph(recording: false).crossEntropy(hidden: hidden, head: head, targets: targets, chunkBytes: chunkBytes)
        #expect(abs(inferenceLoss.data[0] - loss.data[0]) < 1e-6)
    }

    @Test func noTargetGivesZeroLoss() {
        var rng = RandomGenerator(seed: 8)
        let hidden = Self.random([4, 6], &rng, requiresGrad: true)
        let head = LinearLayer(weight: .dense(Self.random([5, 6], &rng)), bias: nil)
        let graph = Graph()
        let loss = graph.crossEntropy(hidden: hidden, head: head, targets: [-100, -100, -100, -100])
        #expect(loss.data[0] == 0)
        graph.backward(loss)
        #expect(hidden.gradValues.allSatisfy { $0 == 0 })
    }

    /// A head that trains (its weight needs a gradient) still gets one.
    @Test func trainableHeadGetsItsGradient() {
        var rng = RandomGenerator(seed: 9)
        let hidden = Self.random([5, 6], &rng, requiresGrad: true)
        let weight = Self.random([7, 6], &rng, requiresGrad: true)
        let graph = Graph()
        let loss = graph.crossEntropy(
            hidden: hidden, head: LinearLayer(weight: .dense(weight), bias: nil), targets: [1, 2, 3, 4, 5], chunkBytes: 4 * 7)
        graph.backward(loss)
        #expect(weight.gradValues.contains { $0 != 0 })
    }

    /// linear → dropout → gelu → linear, with dropout drawn from `rng`.
    static func block(_ graph: Graph, _ x: Tensor, _ w1: Tensor, _ w2: Tensor, _ rng: inout RandomGenerator) -> Tensor {
        graph.linear(graph.gelu(graph.dropout(graph.linear(x, w1), p: 0.3, rng: &rng)), w2)
    }

    @Test(arguments: [true, false])
    func checkpointedBlocksGiveTheSameGradients(inputTrains: Bool) {
        var rng = RandomGenerator(seed: 11)
        let x = Self.random([5, 8], &rng, requiresGrad: inputTrains)
        let w1 = Self.random([12, 8], &rng, requiresGrad: true)
        let w2 = Self.random([8, 12], &rng, requiresGrad: true)
        let w3 = Self.random([3, 8], &rng, requiresGrad: true)
        let targets = [0, 2, 1, 1, 0]

        func run(checkpointed: Bool) -> (loss: Float, gradients: [[Float]], after: UInt64) {
            for tensor in [x, w1, w2, w3] { tensor.releaseGrad() }
            var dropout = RandomGenerator(seed: 99)
            let graph = Graph(recording: true, training: true)
            var h = x
            for _ in 0..<2 {
                if checkpointed {
                    h = graph.checkpoint(h) { graph, input in Self.block(graph, input, w1, w2, &dropout) }
                } else {
                    h = Self.block(graph, h, w1, w2, &dropout)
                }
            }
            let loss = graph.crossEntropy(graph.linear(h, w3), targets: targets)
            graph.backward(loss)
            return (loss.data[0], [x, w1, w2, w3].map(\.gradValues), dropout.next())
        }
        let plain = run(checkpointed: false)
        let checkpointed = run(checkpointed: true)
        #expect(abs(plain.loss - checkpointed.loss) <= 1e-6 * abs(plain.loss))
        #expect(plain.after == checkpointed.after, "the generators advance as without checkpointing")
        for (index, (a, b)) in zip(plain.gradients, checkpointed.gradients).enumerated() {
            let scale = a.map { abs($0) }.max() ?? 1
            #expect(Self.maxDifference(a, b) <= 1e-6 * max(scale, 1), "gradient \(index)")
            #expect(a.contains { $0 != 0 } == (index > 0 || inputTrains))
        }
    }
}
