import CTrainingKernels
import Testing

@testable import TrainingCore

/// The bf16 GEMM (`vdpbf16ps` where the CPU has AVX512_BF16, its portable twin elsewhere): every
/// output within the f32 accumulation bound of the exact product of the bf16-rounded operands,
/// for odd depths, partial panels and row counts that are not a multiple of the six-row block.
/// Serialized: one test switches the product's portable mode for the whole process.
@Suite(.serialized) struct BF16GEMMTests {
    static func bf16(_ value: Float) -> Float { roundedToBF16(value) }

    @Test(arguments: [(1, 1, 1), (7, 37, 45), (13, 64, 32), (6, 300, 70), (20, 2, 33)])
    func panelProductIsWithinTheBound(m: Int, k: Int, n: Int) {
        var rng = RandomGenerator(seed: UInt64(m * 1000 + k))
        let a = (0..<(m * k)).map { _ in rng.nextNormal() }
        let b = (0..<(n * k)).map { _ in rng.nextNormal() * 0.2 }
        let even = k + (k & 1)
        var packedA = [UInt16](repeating: 0xFFFF, count: m * even)
        tk_bf16_pack_rows(a, Int64(k), Int64(m), Int64(k), &packedA)
        let panelLength = Int(tk_bf16_panel_length(Int64(k)))
        for fast: Int32 in [0, 1] {
            var c = [Float](repeating: 0.5, count: m * n)
            for start in stride(from: 0, to: n, by: 32) {
                var panel = [UInt16](repeating: 0xFFFF, count: panelLength)
                let columns = min(32, n - start)
                tk_bf16_pack_panel(Array(b[(start * k)...]), Int64(k), Int64(columns), Int64(k), &panel)
                c.withUnsafeMutableBufferPointer {
                    tk_bf16_gemm_panel(packedA, Int64(m), Int64(k), panel, Int64(columns), $0.baseAddress! + start, Int64(n), 1, fast)
                }
            }
            for r in 0..<m {
                for j in 0..<n {
                    var exact = 0.5, magnitude = 0.5
                    for i in 0..<k {
                        let product = Double(Self.bf16(a[r * k + i])) * Double(Self.bf16(b[j * k + i]))
                        exact += product
                        magnitude += abs(product)
                    }
                    let bound = Double(k + 1) * 0x1p-24 * magnitude
                    #expect(abs(Double(c[r * n + j]) - exact) <= bound, "fast \(fast), [\(r), \(j)] of \(m)x\(n)x\(k)")
                }
            }
        }
    }

    /// A stored weight's product in bf16 mode through the packed path (portable arithmetic here
    /// when the CPU lacks AVX512_BF16) equals the f32-GEMM path's within the same bound.
    @Test func storedProductTakesThePackedPath() {
        var rng = RandomGenerator(seed: 5)
        let (rows, inFeatures, outFeatures) = (100, 129, 300)
        let x = Tensor((0..<(rows * inFeatures)).map { _ in Self.bf16(rng.nextNormal()) }, shape: [rows, inFeatures])
        let bits = (0..<(outFeatures * inFeatures)).map { _ in UInt16(Self.bf16(rng.nextNormal() * 0.1).bitPattern >> 16) }
        let owner = BF16ComputeTests.Box(bits)
        let weight = HalfLinearWeight(bits: owner.pointer, shape: [outFeatures, inFeatures], owner: owner, name: "w")
        let bias = Tensor((0..<outFeatures).map { _ in Self.bf16(rng.nextNormal()) }, shape: [outFeatures])
        let graph = Graph(recording: false, computeDType: .bf16)
        BF16Product.forcePortable = true
        let packed = graph.storedLinear(x, weight, bias).values
        BF16Product.forcePortable = false
        let widened = tk_bf16_gemm_available() == 0 ? graph.storedLinear(x, weight, bias).values : packed
        let step = zip(packed, widened).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? .infinity
        #expect(step <= 0x1p-7, "the two paths differ by at most one bf16 rounding of the output")
        #expect(packed.allSatisfy { $0.bitPattern & 0xFFFF == 0 })
    }
}
