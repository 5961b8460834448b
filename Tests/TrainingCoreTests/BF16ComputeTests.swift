import CTrainingKernels
import Testing

@testable import TrainingCore

/// bf16 compute mode: rounding as torch casts f32 to bf16, and the products of bf16 tensors within
/// the error a bf16 GEMM with f32 accumulation has.
@Suite struct BF16ComputeTests {
    static func bf16(_ value: Float) -> Float {
        var rounded = value
        tk_round_bf16(&rounded, 1)
        return rounded
    }

    /// Ties go to the even mantissa, NaN stays NaN, the largest finite values round to infinity.
    @Test func roundingIsTorchs() {
        #expect(Self.bf16(Float(bitPattern: 0x3F80_8000)).bitPattern == 0x3F80_0000, "tie, even stays")
        #expect(Self.bf16(Float(bitPattern: 0x3F81_8000)).bitPattern == 0x3F82_0000, "tie, odd rounds up")
        #expect(Self.bf16(Float(bitPattern: 0x3F80_8001)).bitPattern == 0x3F81_0000)
        #expect(Self.bf16(-Float(bitPattern: 0x3F80_7FFF)).bitPattern == (-Float(1)).bitPattern)
        #expect(Self.bf16(.greatestFiniteMagnitude) == .infinity)
        #expect(Self.bf16(-.infinity) == -.infinity && Self.bf16(.nan).isNaN)
        #expect(Self.bf16(Float(bitPattern: 0x7F80_0001)).isNaN, "a NaN whose payload is in the low half stays NaN")
        #expect(Self.bf16(Float(bitPattern: 0x0000_8000)).bitPattern == 0, "subnormal tie to even (zero)")
    }

    /// y = x·Wᵀ + b with bf16 x, W and b, for the dense, stored-bf16 GEMM and few-row paths: every
    /// output is a bf16 value within one bf16 rounding of the exact product plus the f32
    /// accumulation error (k · 2⁻²⁴ · Σ|w·x|).
    @Test(arguments: [3, 8, 37])
    func linearIsWithinTheBF16Bound(rows: Int) {
        var rng = RandomGenerator(seed: UInt64(rows))
        let (inFeatures, outFeatures) = (300, 70)
        let x = Tensor((0..<(rows * inFeatures)).map { _ in Self.bf16(rng.nextNormal()) }, shape: [rows, inFeatures])
        let w = (0..<(outFeatures * inFeatures)).map { _ in Self.bf16(rng.nextNormal() * 0.1) }
        let bias = Tensor((0..<outFeatures).map { _ in Self.bf16(rng.nextNormal()) }, shape: [outFeatures])
        let bits = w.map { UInt16($0.bitPattern >> 16) }
        let owner = Box(bits)
        let stored = HalfLinearWeight(bits: owner.pointer, shape: [outFeatures, inFeatures], owner: owner, name: "w")
        let graph = Graph(recording: false, computeDType: .bf16)
        for layer in [
            LinearLayer(weight: .dense(Tensor(w, shape: [outFeatures, inFeatures])), bias: bias),
            LinearLayer(weight: .half(stored), bias: bias),
        ] {
            let y = graph.linear(x, layer)
            for r in 0..<rows {
                for o in 0..<outFeatures {
                    var exact = Double(bias.data[o]), magnitude = abs(Double(bias.data[o]))
                    for i in 0..<inFeatures {
                        let product = Double(w[o * inFeatures + i]) * Double(x.data[r * inFeatures + i])
                        exact += product
                        magnitude += abs(product)
                    }
                    let value = y.data[r * outFeatures + o]
                    #expect(value.bitPattern & 0xFFFF == 0, "output is a bf16 value")
                    let bound = abs(exact) * 0x1p-8 + Double(inFeatures) * 0x1p-24 * magnitude
                    #expect(abs(Double(value) - exact) <= bound, "row \(r), output \(o): \(value) vs \(exact)")
                }
            }
        }
    }

    /// Owns the bits a ``HalfLinearWeight`` points into.
    final class Box: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<UInt16>
        init(_ values: [UInt16]) {
            pointer = .allocate(capacity: values.count)
            pointer.initialize(from: values, count: values.count)
        }
        deinit { pointer.deallocate() }
    }
}
