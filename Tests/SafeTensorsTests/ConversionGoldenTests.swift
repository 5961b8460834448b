import Foundation
import Testing

@testable import SafeTensors

/// Conversions against what torch 2.15's `.to(dtype)` writes (fixtures/dtype-conversion/):
/// every f16 and bf16 bit pattern, every float8 code, and a sample of f32 values with all the
/// rounding boundaries of the narrow formats. Compared bit for bit, NaNs included.
@Suite struct ConversionGoldenTests {
    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: Fixtures.path("dtype-conversion/" + name))
    }

    /// Converts `input` (raw bytes of `from`) to `to` and compares with the golden tensor,
    /// reporting the first few mismatching elements by input bits.
    static func check(_ input: TensorView, from: DType, golden: TensorView, to: DType) throws {
        let count = input.bytes.count * 8 / from.bitSize
        var out = [UInt8](repeating: 0, count: count * to.bitSize / 8)
        try out.withUnsafeMutableBytes { destination in
            try DTypeConversion.convert(input.bytes, from: from, into: destination, as: to, file: "test")
        }
        let expected = golden.data
        #expect(out.count == expected.count)
        let width = to.bitSize / 8
        let inWidth = from.bitSize / 8
        var mismatches: [String] = []
        for i in 0..<count where out[(i * width)..<((i + 1) * width)] != expected[(i * width)..<((i + 1) * width)] {
            if mismatches.count < 8 {
                let source = input.data[(i * inWidth)..<((i + 1) * inWidth)].reversed().map { String(format: "%02x", $0) }.joined()
                let ours = out[(i * width)..<((i + 1) * width)].reversed().map { String(format: "%02x", $0) }.joined()
                let theirs = expected[(i * width)..<((i + 1) * width)].reversed().map { String(format: "%02x", $0) }.joined()
                mismatches.append("0x\(source): ours 0x\(ours), torch 0x\(theirs)")
            } else {
                mismatches.append("…")
                break
            }
        }
        #expect(mismatches.isEmpty, "\(from.rawValue) → \(to.rawValue): \(mismatches.joined(separator: "; "))")
    }

    @Test(arguments: [DType.f16, .f8E4M3, .f8E5M2, .bf16])
    func f32Sample(to: DType) throws {
        let file = try Self.file("f32.safetensors")
        try Self.check(file.tensor("input"), from: .f32, golden: file.tensor("to_" + to.rawValue), to: to)
    }

    @Test(arguments: [
        (DType.f16, DType.f32), (.f16, .bf16), (.f16, .f8E4M3), (.f16, .f8E5M2),
        (.bf16, .f32), (.bf16, .f16), (.bf16, .f8E4M3), (.bf16, .f8E5M2),
    ])
    func every16BitPattern(from: DType, to: DType) throws {
        let file = try Self.file(from.rawValue.lowercased() + ".safetensors")
        let input = try file.tensor("input")
        #expect(input.elementCount == 65_536)
        try Self.check(input, from: from, golden: file.tensor("to_" + to.rawValue), to: to)
    }

    @Test(arguments: [
        (DType.f8E4M3, DType.f32), (.f8E4M3, .f16), (.f8E4M3, .bf16),
        (.f8E5M2, .f32), (.f8E5M2, .f16), (.f8E5M2, .bf16),
    ])
    func everyFloat8Code(from: DType, to: DType) throws {
        let file = try Self.file("f8.safetensors")
        try Self.check(
            file.tensor(from.rawValue + ".input"), from: from,
            golden: file.tensor(from.rawValue + ".to_" + to.rawValue), to: to)
    }
}

@Suite struct ConversionAlignmentTests {
    /// Data in a file by another writer may be unaligned; both loops must agree, in parallel too.
    @Test(arguments: [(DType.f32, DType.bf16), (.f32, .f16), (.bf16, .f32), (.f16, .f8E4M3), (.f64, .bf16)])
    func unalignedInputGivesTheSameBits(from: DType, to: DType) throws {
        let count = DTypeConversion.parallelThreshold + 1234
        let width = from.bitSize / 8
        var bytes = [UInt8](repeating: 0, count: count * width + 1)
        var state: UInt32 = 12345
        for i in bytes.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
        }
        var aligned = [UInt8](repeating: 0, count: count * to.bitSize / 8)
        var shifted = aligned
        try bytes.withUnsafeBytes { raw in
            let shiftedSource = UnsafeRawBufferPointer(rebasing: raw[1...])
            let copy = Array(shiftedSource)
            try copy.withUnsafeBytes { copied in
                try aligned.withUnsafeMutableBytes { try DTypeConversion.convert(copied, from: from, into: $0, as: to, file: "t") }
            }
            try shifted.withUnsafeMutableBytes { try DTypeConversion.convert(shiftedSource, from: from, into: $0, as: to, file: "t") }
        }
        #expect(aligned == shifted)
    }
}
