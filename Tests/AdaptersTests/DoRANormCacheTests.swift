import Adapters
import Testing
import TrainingCore

/// DoRA's weight norms are reused between forward passes only while A, B and the stack weight
/// are unchanged: a training step (new A, B) or a new stack weight gives what a fresh adapter
/// with those values gives.
@Suite struct DoRANormCacheTests {
    static func values(_ count: Int, _ seed: Float) -> [Float] { (0..<count).map { sin(Float($0) * 0.37 + seed) * 0.5 } }

    nonisolated(unsafe) static let weight = Tensor(values(6 * 5, 1), shape: [6, 5])

    static func adapter(a: [Float], b: [Float]) -> LoRALinear {
        let base = LinearLayer(weight: .dense(weight), bias: nil)
        return LoRALinear(
            moduleName: "m", a: Tensor(a, shape: [2, 5]), b: Tensor(b, shape: [6, 2]), scale: 0.5, dropout: 0, seed: 0,
            magnitude: Tensor(values(6, 3).map { 1 + abs($0) }, shape: [6]), base: base)
    }

    static func output(_ adapter: LoRALinear) -> [Float] {
        let graph = Graph(recording: false)
        let x = Tensor(values(3 * 5, 2), shape: [3, 5])
        return adapter.apply(graph, input: x, baseOutput: graph.linear(x, weight, nil)).values
    }

    @Test func changedFactorsOrWeightRecomputeTheNorms() {
        let a = Self.values(10, 4), b = Self.values(12, 5)
        let adapter = Self.adapter(a: a, b: b)
        let first = Self.output(adapter)
        #expect(Self.output(adapter) == first, "cached norms give the same output")
        let newB = b.map { $0 * 1.5 + 0.1 }
        newB.withUnsafeBufferPointer { adapter.b.data.update(from: $0.baseAddress!, count: newB.count) }
        #expect(Self.output(adapter) == Self.output(Self.adapter(a: a, b: newB)), "a step on B changes the norms")
        adapter.stackWeight = 0.3
        let fresh = Self.adapter(a: a, b: newB)
        fresh.stackWeight = 0.3
        #expect(Self.output(adapter) == Self.output(fresh))
    }
}

#if canImport(Glibc)
import Glibc
#endif
