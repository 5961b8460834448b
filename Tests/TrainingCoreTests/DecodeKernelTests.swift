import CTrainingKernels
import Foundation
import Quantization
import Testing

@testable import TrainingCore

/// The decode products read 4-bit and bf16 weights in their stored form. Each output must equal the
/// product with the dequantized (widened) weight computed in f64 within the standard bound for a sum
/// of n products in f32: |y − y_ref| ≤ n·u·Σ|w_i·x_i| (u = 2⁻²⁴). A wrong nibble, scale or row would
/// miss it by orders of magnitude. Every path the CPU has (AVX-512, AVX2, portable C) is checked; the
/// suite is serialized because it switches the path for the whole process.
@Suite(.serialized) struct DecodeKernelTests {
    static func bound(_ terms: Int, _ absoluteSum: Double) -> Double { Double(terms) * 0x1p-24 * absoluteSum + 1e-30 }

    /// Runs `body` once per instruction-set level this CPU has, then restores the best. The limit
    /// holds for this thread only: the products here are small enough to stay on it.
    static func forEachPath(_ body: (Int32) throws -> Void) rethrows {
        tk_decode_limit_isa(Int32.max)
        let best = tk_decode_isa()
        defer { tk_decode_limit_isa(Int32.max) }
        for level in 0...best {
            tk_decode_limit_isa(level)
            try body(level)
        }
    }

    /// f64 reference: y[r, o] and Σ|w·x| for each output of rows `rows` of `x` against `w` [out, in].
    static func reference(_ w: [Float], out: Int, in inFeatures: Int, _ x: [Float], rows: Int) -> [(Double, Double)] {
        (0..<rows).flatMap { r in
            (0..<out).map { o in
                var sum = 0.0, absolute = 0.0
                for i in 0..<inFeatures {
                    let term = Double(w[o * inFeatures + i]) * Double(x[r * inFeatures + i])
                    sum += term
                    absolute += abs(term)
                }
                return (sum, absolute)
            }
        }
    }

    static func quantize(_ values: [Float], out: Int, in inFeatures: Int, blockSize: Int, type: QuantType) throws -> QuantizedWeight {
        try values.withUnsafeBufferPointer {
            try QuantizedWeight.quantize(
                $0, shape: [out, inFeatures], originalDType: .f32, type: type, blockSize: blockSize,
                doubleQuantization: blockSize != 128, tensor: "w", file: "test")
        }
    }

    /// Odd widths (rows start mid-vector and mid-byte), widths below one vector, several blocks per
    /// row and rows inside one block, for every block size bitsandbytes has and 1 to 8 input rows.
    /// Widths that are multiples of 8 (the byte-plane AVX2 path) with rows starting 8, 16 or 24
    /// elements past a 32-element group.
    @Test(arguments: [32, 64, 128, 256, 512, 1024, 2048, 4096])
    func fourBitProductEqualsDequantizedProduct(blockSize: Int) throws {
        var rng = RandomGenerator(seed: UInt64(blockSize))
        for (out, inFeatures) in [(7, 33), (5, 13), (9, 64), (3, 257), (2, 4099), (6, 40), (5, 200), (3, 1032)] {
            let values = (0..<(out * inFeatures)).map { _ in rng.nextNormal() * 0.05 }
            let weight = try Self.quantize(values, out: out, in: inFeatures, blockSize: blockSize, type: blockSize == 64 ? .fp4 : .nf4)
            let dense = weight.dequantized()
            let quantized = QuantizedLinearWeight(weight, name: "w")
            for rows in 1...8 {
                let x = Tensor((0..<(rows * inFeatures)).map { _ in rng.nextNormal() }, shape: [rows, inFeatures])
                let expected = Self.reference(dense, out: out, in: inFeatures, x.values, rows: rows)
                Self.forEachPath { level in
                    let y = Tensor(zeros: [rows, out])
                    quantized.multiplyFewRows(x, into: y, accumulate: false)
                    for (index, (value, (exact, absolute))) in zip(y.values, expected).enumerated() {
                        #expect(
                            abs(Double(value) - exact) <= Self.bound(inFeatures, absolute),
                            "path \(level), block \(blockSize), [\(out), \(inFeatures)], \(rows) rows, output \(index)")
                    }
                }
            }
        }
    }

    /// A sub-range of outputs with `accumulate` adds to what y holds and leaves the rest alone.
    @Test func fourBitRangeAccumulates() throws {
        var rng = RandomGenerator(seed: 11)
        let (out, inFeatures, rows) = (10, 48, 3)
        let weight = try Self.quantize(
            (0..<(out * inFeatures)).map { _ in rng.nextNormal() }, out: out, in: inFeatures, blockSize: 64, type: .nf4)
        let x = (0..<(rows * inFeatures)).map { _ in rng.nextNormal() }
        let absmax = weight.blockAbsmax()
        let expected = Self.reference(weight.dequantized(), out: out, in: inFeatures, x, rows: rows)
        Self.forEachPath { level in
            var y = [Float](repeating: 2, count: rows * out)
            weight.packed.withUnsafeBufferPointer { packed in
                tk_matvec_4bit(
                    packed.baseAddress, 64, weight.quantMap, absmax, Int64(inFeatures), 3, 7, x, Int64(rows), &y, Int64(out), 1)
            }
            for r in 0..<rows {
                for o in 0..<out {
                    let value = Double(y[r * out + o])
                    guard (3..<7).contains(o) else {
                        #expect(value == 2, "path \(level): row \(r), output \(o) is outside the range and must stay")
                        continue
                    }
                    let (exact, absolute) = expected[r * out + o]
                    #expect(abs(value - 2 - exact) <= Self.bound(inFeatures + 1, absolute + 2), "path \(level): row \(r), output \(o)")
                }
            }
        }
    }

    /// bf16 rows with a stride beyond their width, widths that leave a tail, 1 to 8 rows, a range.
    @Test(arguments: [1, 7, 15, 16, 17, 100, 2049])
    func bf16ProductEqualsWidenedProduct(inFeatures: Int) {
        var rng = RandomGenerator(seed: UInt64(inFeatures))
        let (out, stride) = (6, inFeatures + 3)
        let bits = (0..<(out * stride)).map { _ in UInt16(truncatingIfNeeded: rng.nextNormal().bitPattern >> 16) }
        let widened = (0..<out).flatMap { o in (0..<inFeatures).map { Float(bitPattern: UInt32(bits[o * stride + $0]) << 16) } }
        for rows in 1...8 {
            let x = (0..<(rows * inFeatures)).map { _ in rng.nextNormal() }
            let expected = Self.reference(widened, out: out, in: inFeatures, x, rows: rows)
            Self.forEachPath { level in
                var y = [Float](repeating: 0, count: rows * out)
                tk_matvec_bf16(bits, Int64(stride), Int64(inFeatures), 1, Int64(out), x, Int64(rows), &y, Int64(out), 0)
                for r in 0..<rows {
                    #expect(y[r * out] == 0, "path \(level): output 0 is outside the range")
                    for o in 1..<out {
                        let (exact, absolute) = expected[r * out + o]
                        #expect(
                            abs(Double(y[r * out + o]) - exact) <= Self.bound(inFeatures, absolute),
                            "path \(level), in \(inFeatures), row \(r), output \(o)")
                    }
                }
            }
        }
    }

    /// f16 weights: products equal those of the exactly widened values (subnormals, large values
    /// and both signs among them).
    @Test(arguments: [1, 8, 31, 64, 257])
    func f16ProductEqualsWidenedProduct(inFeatures: Int) {
        var rng = RandomGenerator(seed: UInt64(inFeatures) + 7)
        let (out, stride) = (5, inFeatures + 2)
        let bits = (0..<(out * stride)).map { i in i % 11 == 3 ? UInt16(0x8000 | (i % 1023)) : Float16(rng.nextNormal() * 3).bitPattern }
        let widened = (0..<out).flatMap { o in (0..<inFeatures).map { Float(Float16(bitPattern: bits[o * stride + $0])) } }
        var converted = [Float](repeating: 0, count: bits.count)
        tk_widen_f16(bits, &converted, Int64(bits.count))
        #expect(converted == bits.map { Float(Float16(bitPattern: $0)) }, "widening is exact")
        for rows in [1, 3, 8] {
            let x = (0..<(rows * inFeatures)).map { _ in rng.nextNormal() }
            let expected = Self.reference(widened, out: out, in: inFeatures, x, rows: rows)
            Self.forEachPath { level in
                var y = [Float](repeating: 0, count: rows * out)
                tk_matvec_f16(bits, Int64(stride), Int64(inFeatures), 0, Int64(out), x, Int64(rows), &y, Int64(out), 0)
                for index in 0..<(rows * out) {
                    let (exact, absolute) = expected[index]
                    #expect(abs(Double(y[index]) - exact) <= Self.bound(inFeatures, absolute), "path \(level), in \(inFeatures), \(index)")
                }
            }
        }
    }

    /// f32 weights (a dense Linear with few rows, a tied f32 head) with a stride and a bias to add to.
    @Test(arguments: [1, 9, 16, 33, 2049])
    func f32ProductEqualsDoubleProduct(inFeatures: Int) {
        var rng = RandomGenerator(seed: UInt64(inFeatures) + 99)
        let (out, stride) = (5, inFeatures + 1)
        let w = (0..<(out * stride)).map { _ in rng.nextNormal() }
        let packed = (0..<out).flatMap { o in Array(w[(o * stride)..<(o * stride + inFeatures)]) }
        for rows in 1...8 {
            let x = (0..<(rows * inFeatures)).map { _ in rng.nextNormal() }
            let expected = Self.reference(packed, out: out, in: inFeatures, x, rows: rows)
            Self.forEachPath { level in
                var y = [Float](repeating: 1, count: rows * out)
                tk_matvec_f32(w, Int64(stride), Int64(inFeatures), 0, Int64(out), x, Int64(rows), &y, Int64(out), 1)
                for (index, (value, (exact, absolute))) in zip(y, expected).enumerated() {
                    #expect(
                        abs(Double(value) - 1 - exact) <= Self.bound(inFeatures + 1, absolute + 1),
                        "path \(level), in \(inFeatures), \(rows) rows, output \(index)")
                }
            }
        }
    }
}
