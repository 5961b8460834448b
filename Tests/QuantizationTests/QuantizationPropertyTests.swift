import Foundation
import Testing

@testable import Quantization

/// Properties over random inputs: the error bound, idempotence, tiles, and bad input.
@Suite struct QuantizationPropertyTests {
    struct LCG {
        var state: UInt64
        mutating func normal() -> Float {
            // Box–Muller on two uniforms from a 64-bit LCG: reproducible, no Foundation RNG.
            func uniform(_ s: inout UInt64) -> Double {
                s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Double(s >> 11) + 0.5) / Double(1 << 53)
            }
            let u = uniform(&state)
            let v = uniform(&state)
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
        }
    }

    /// Half the largest gap between neighbouring codes: the worst rounding, in units of absmax.
    static func largestHalfGap(_ type: QuantType) -> Float {
        let sorted = type.codebook.values.sorted()
        return zip(sorted, sorted.dropFirst()).map { ($1 - $0) / 2 }.max()!
    }

    @Test(arguments: QuantType.allCases, [32, 64, 256, 4096])
    func errorBoundAndIdempotence(type: QuantType, blockSize: Int) throws {
        var rng = LCG(state: UInt64(blockSize) * 31 + (type == .nf4 ? 1 : 2))
        for length in [1, 2, 3, blockSize - 1, blockSize + 1, 3 * blockSize + 5] {
            let values = (0..<length).map { _ in rng.normal() * 0.02 }
            let weight = try values.withUnsafeBufferPointer {
                try QuantizedWeight.quantize(
                    $0, shape: [length], originalDType: .f32, type: type, blockSize: blockSize,
                    doubleQuantization: false, tensor: "t", file: "f")
            }
            let restored = weight.dequantized()
            let absmax = weight.absmax!
            let bound = Self.largestHalfGap(type)
            for i in 0..<length {
                let limit = absmax[i / blockSize] * bound * (1 + 1e-6)
                #expect(abs(values[i] - restored[i]) <= limit, "\(type) b\(blockSize) n\(length) element \(i)")
            }
            let again = try restored.withUnsafeBufferPointer {
                try QuantizedWeight.quantize(
                    $0, shape: [length], originalDType: .f32, type: type, blockSize: blockSize,
                    doubleQuantization: false, tensor: "t", file: "f")
            }
            // FP4 has two codes for zero (0 and 8): compare values there, codes for NF4.
            if type == .nf4 { #expect(again.packed == weight.packed, "quantizing dequantized values gives the same codes") }
            #expect(again.dequantized() == restored)
            #expect(again.absmax == weight.absmax)
        }
    }

    @Test func tilesEqualTheWholeDequantization() throws {
        var rng = LCG(state: 99)
        let shape = [37, 96]
        let values = (0..<(37 * 96)).map { _ in rng.normal() }
        let weight = try values.withUnsafeBufferPointer {
            try QuantizedWeight.quantize(
                $0, shape: shape, originalDType: .f32, type: .nf4, blockSize: 64,
                doubleQuantization: true, tensor: "t", file: "f")
        }
        let whole = weight.dequantized()
        let scales = weight.blockAbsmax()
        for rows in [0..<1, 3..<10, 36..<37, 0..<37] {
            var tile = [Float](repeating: .nan, count: rows.count * 96)
            tile.withUnsafeMutableBufferPointer {
                weight.dequantize(elements: (rows.lowerBound * 96)..<(rows.upperBound * 96), blockAbsmax: scales, into: $0)
            }
            #expect(tile == Array(whole[(rows.lowerBound * 96)..<(rows.upperBound * 96)]), "rows \(rows)")
        }
    }

    @Test func nonFiniteValuesAreRefused() {
        for bad in [Float.nan, .infinity, -.infinity] {
            var values = [Float](repeating: 0.5, count: 200)
            values[130] = bad
            #expect {
                _ = try values.withUnsafeBufferPointer {
                    try QuantizedWeight.quantize(
                        $0, shape: [200], originalDType: .f32, type: .nf4, blockSize: 64,
                        doubleQuantization: true, tensor: "layer.weight", file: "model.safetensors")
                }
            } throws: { error in
                (error as? QuantizationError)?.description.contains("layer.weight") == true
            }
        }
    }

    /// The fast nested coder (bucketed ranges + refinement) against a plain nearest search.
    @Test func nestedCodesAreTheExactNearest() {
        var rng = LCG(state: 7)
        var absmax = (0..<5000).map { _ in abs(rng.normal()) * 0.05 + 1e-4 }
        absmax += [0.05, 0.05, 0.05]  // values equal to each other and near the mean
        let nested = NestedAbsmax.compress(absmax)
        for i in absmax.indices {
            let scale = nested.nestedAbsmax[i / 256]
            let expected = DynamicMap.nearestCode(scale > 0 ? (absmax[i] - nested.offset) / scale : 0)
            #expect(nested.codes[i] == expected, "value \(i)")
        }
        // Every map value and every midpoint neighbourhood maps the same both ways.
        for value in DynamicMap.signed + DynamicMap.signedMidpoints.map({ Float($0) }) {
            for probe in [value.nextDown, value, value.nextUp] where abs(probe) <= 1 {
                let fast = Int(DynamicMap.countBelow(probe))
                #expect(UInt8(fast) == DynamicMap.nearestCode(probe), "\(probe)")
            }
        }
    }

    @Test func quantStateJSONIsWhatBitsandbytesWrites() {
        let state = QuantState(
            quantType: .nf4, blockSize: 64, dtype: "float32", shape: [64, 64],
            nestedBlockSize: 256, nestedDType: "float32", nestedOffset: 0.05490540340542793)
        #expect(
            state.jsonText()
                == #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [64, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.05490540340542793}"#
        )
    }
}
