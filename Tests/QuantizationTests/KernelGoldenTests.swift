import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Quantization

/// Blockwise 4-bit quantization against bitsandbytes 0.50.2 on the CPU
/// (fixtures/quantization/kernels.safetensors): packed bytes and absmax byte for byte for NF4 and
/// FP4 at every block size, odd lengths, all-zero blocks, f32/f16/bf16 inputs; dequantized
/// values bit for bit; double quantization within the stated tolerances.
@Suite struct KernelGoldenTests {
    static let goldens = try! SafeTensorsFile(path: FixturePaths.path("quantization/kernels.safetensors"))

    static func floats(_ name: String) throws -> [Float] { try goldens.tensor(name).floats() }
    static func bytes(_ name: String) throws -> [UInt8] { try goldens.tensor(name).data }

    static func quantize(_ values: [Float], _ type: QuantType, blockSize: Int, doubleQuant: Bool = false) throws -> QuantizedWeight {
        try values.withUnsafeBufferPointer {
            try QuantizedWeight.quantize(
                $0, shape: [values.count], originalDType: .f32, type: type, blockSize: blockSize,
                doubleQuantization: doubleQuant, tensor: "test", file: "test")
        }
    }

    @Test func tablesAreBitsandbytes() throws {
        #expect(DynamicMap.signed.map(\.bitPattern) == (try Self.floats("dynamic_map")).map(\.bitPattern))
        #expect(Codebook.nf4.values.map(\.bitPattern) == (try Self.floats("code.nf4")).map(\.bitPattern))
        #expect(Codebook.fp4.values.map(\.bitPattern) == (try Self.floats("code.fp4")).map(\.bitPattern))
        #expect(DynamicMap.signed[127] == 0 && DynamicMap.signed[255] == 1 && DynamicMap.signed[0] == -0.99296874)
    }

    @Test(arguments: QuantType.allCases, BlockwiseQuantization.supportedBlockSizes)
    func packedBytesAndAbsmaxEqual(type: QuantType, blockSize: Int) throws {
        let input = try Self.floats("in.b\(blockSize)")
        #expect(input.count % 2 == 1 && input.count % blockSize != 0, "odd length with a partial block")
        let weight = try Self.quantize(input, type, blockSize: blockSize)
        #expect(weight.packed == (try Self.bytes("\(type.rawValue).b\(blockSize).packed")))
        #expect(weight.absmax!.map(\.bitPattern) == (try Self.floats("\(type.rawValue).b\(blockSize).absmax")).map(\.bitPattern))
        #expect(weight.absmax![1] == 0, "the all-zero block")
        if blockSize == 64 || blockSize == 4096 {
            #expect(
                weight.dequantized().map(\.bitPattern) == (try Self.floats("\(type.rawValue).b\(blockSize).dequantized")).map(\.bitPattern))
        }
    }

    @Test(arguments: QuantType.allCases, ["f16", "bf16"])
    func halfPrecisionInputs(type: QuantType, dtype: String) throws {
        let input = try Self.goldens.tensor("in.\(dtype)").floats()  // widening is exact, as in bitsandbytes
        let weight = try Self.quantize(input, type, blockSize: 64)
        #expect(weight.packed == (try Self.bytes("\(type.rawValue).\(dtype).packed")))
        #expect(weight.absmax!.map(\.bitPattern) == (try Self.floats("\(type.rawValue).\(dtype).absmax")).map(\.bitPattern))
        // bitsandbytes dequantizes to the input's dtype; ours gives f32, narrowed the same way here.
        let golden = try Self.goldens.tensor("\(type.rawValue).\(dtype).dequantized").floats()
        let narrowed = weight.dequantized().map { value -> Float in
            dtype == "bf16"
                ? FloatEncoding.float(fromBFloat16: FloatEncoding.bfloat16(fromFloat: value))
                : FloatEncoding.float(fromFloat16: FloatEncoding.float16(fromFloat: value))
        }
        #expect(narrowed.map(\.bitPattern) == golden.map(\.bitPattern))
    }

    @Test(arguments: QuantType.allCases)
    func doubleQuantization(type: QuantType) throws {
        let input = try Self.floats("dq.input")
        let weight = try Self.quantize(input, type, blockSize: 64, doubleQuant: true)
        let nested = try #require(weight.nested)
        let prefix = "dq.\(type.rawValue)"
        #expect(weight.packed == (try Self.bytes("\(prefix).packed")), "4-bit codes do not depend on double quantization")
        let exactAbsmax = try Self.floats("\(prefix).absmax")
        // The offset is a mean: bitsandbytes sums in f32 in torch's order, we sum in f64.
        let offset = try Self.floats("\(prefix).offset")[0]
        #expect(abs(nested.offset - offset) <= offset.ulp * 2)
        let referenceScales = try Self.floats("\(prefix).nested_absmax")
        #expect(zip(nested.nestedAbsmax, referenceScales).allSatisfy { abs($0 - $1) <= $1.ulp * 2 })
        // Codes equal except where bitsandbytes' lookup table misses the exact nearest code; there,
        // ours must be at least as near to the value being coded.
        let theirs = try Self.bytes("\(prefix).absmax_codes")
        var differences = 0
        for i in theirs.indices where theirs[i] != nested.codes[i] {
            differences += 1
            let scale = nested.nestedAbsmax[i / 256]
            let target = Double(exactAbsmax[i] - nested.offset) / Double(scale)
            let ours = abs(Double(DynamicMap.signed[Int(nested.codes[i])]) - target)
            let reference = abs(Double(DynamicMap.signed[Int(theirs[i])]) - target)
            #expect(ours <= reference, "block \(i): our code \(nested.codes[i]) is farther than \(theirs[i])")
        }
        #expect(differences <= theirs.count / 50, "\(differences) of \(theirs.count) codes differ")
        // Dequantized values agree to the rounding of the absmax they are scaled by.
        let golden = try Self.floats("\(prefix).dequantized")
        let ours = weight.dequantized()
        let scales = weight.blockAbsmax()
        for i in golden.indices {
            let tolerance = abs(golden[i]) * 1e-5 + scales[i / 64] * 0.02 * (differences > 0 ? 1 : 0) + 1e-12
            if abs(ours[i] - golden[i]) > tolerance {
                Issue.record("element \(i): ours \(ours[i]), bitsandbytes \(golden[i])")
                break
            }
        }
    }

    @Test func referenceVectors() throws {
        let values: [Float] = [-1, -0.5, 0, 0.25, 0.5, 0.75, 1, 0.1]
        #expect(try Self.quantize(values, .nf4, blockSize: 64).packed == [0x02, 0x7a, 0xce, 0xf8])
        #expect(try Self.quantize(values, .fp4, blockSize: 64).packed == [0xbd, 0x07, 0x52, 0x36])
        #expect(try Self.quantize([2, -4, 1], .nf4, blockSize: 64).packed == [0xc0, 0xa7])
        #expect(try Self.quantize([Float](repeating: 0, count: 64), .nf4, blockSize: 64).packed == [UInt8](repeating: 0x77, count: 32))
        #expect(try Self.quantize([Float](repeating: 0, count: 64), .fp4, blockSize: 64).packed == [UInt8](repeating: 0x00, count: 32))
    }
}
