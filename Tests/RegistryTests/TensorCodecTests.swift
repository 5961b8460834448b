import CZstd
import Foundation
import Registry
import Testing

@Suite struct TensorCodecTests {
    /// Weight-like values: normal(0, 0.02), as trained adapter factors look.
    static func weights(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) + 0.5) / Float(1 << 24)
        }
        return (0..<count).map { _ in (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) * 0.02 }
    }

    static func bytes(_ values: [Float], dtype: String) -> [UInt8] {
        switch dtype {
        case "F32": return values.withUnsafeBytes { Array($0) }
        case "BF16":
            return values.flatMap { v -> [UInt8] in
                let b = UInt16(v.bitPattern >> 16)
                return [UInt8(b & 0xff), UInt8(b >> 8)]
            }
        case "F16":
            return values.flatMap { v -> [UInt8] in
                let b = Float16(v).bitPattern
                return [UInt8(b & 0xff), UInt8(b >> 8)]
            }
        default: return values.withUnsafeBytes { Array($0) }
        }
    }

    @Test(arguments: [("F32", 4), ("BF16", 2), ("F16", 2), ("F64", 8), ("U8", 1), ("I32", 4)])
    func roundTripIsBitExact(dtype: String, width: Int) throws {
        // Odd sizes, a chunk boundary inside the data, and special values.
        var raw = Self.bytes(Self.weights(70_001, seed: 3), dtype: dtype == "BF16" || dtype == "F16" ? dtype : "F32")
        raw += [0xff, 0x7f, 0x80, 0x00, 0x00, 0x80, 0xc0, 0x7f]  // NaN/−0/inf-like patterns
        raw = Array(raw.prefix(raw.count / width * width))
        for method in [TensorCodec.Method.zstd, .zlib] {
            let transform = TensorCodec.transform(width: width, dtype: dtype)
            let blob = TensorCodec.encode(raw, width: width, transform: transform, method: method, chunkBytes: 1 << 16)
            #expect(try TensorCodec.decode(blob, maxLength: raw.count) == raw, "\(dtype) \(method)")
        }
        #expect(try TensorCodec.decode(TensorCodec.encode([], width: width, transform: .byteStreams), maxLength: 0) == [])
    }

    @Test func byteStreamsBeatPlainZstdOnWeights() throws {
        for dtype in ["BF16", "F32"] {
            let raw = Self.bytes(Self.weights(1 << 18, seed: 9), dtype: dtype)
            let blob = TensorCodec.encode(raw, width: dtype == "BF16" ? 2 : 4, transform: .rotatedByteStreams)
            var plain = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
            let plainSize = ZSTD_compress(&plain, plain.count, raw, raw.count, 3)
            #expect(blob.count < plainSize, "\(dtype): grouped \(blob.count) vs plain zstd \(plainSize) of \(raw.count)")
        }
    }

    @Test func corruptOrHostileBlobsAreRefused() throws {
        let raw = Self.bytes(Self.weights(10_000, seed: 5), dtype: "BF16")
        let blob = TensorCodec.encode(raw, width: 2, transform: .rotatedByteStreams)
        #expect(throws: RegistryError.self) { try TensorCodec.decode(blob, maxLength: raw.count - 1) }
        #expect(throws: RegistryError.self) { try TensorCodec.decode(Array(blob.dropLast(7)), maxLength: raw.count) }
        #expect(throws: RegistryError.self) { try TensorCodec.decode(Array("TLRX".utf8) + blob.dropFirst(4), maxLength: raw.count) }
        var flipped = blob
        flipped[TensorCodecTests.firstCompressedPayload(blob)] ^= 0x5a
        #expect(throws: RegistryError.self) { try TensorCodec.decode(flipped, maxLength: raw.count) }
    }

    /// Offset of the first byte inside the first zstd-compressed stream.
    static func firstCompressedPayload(_ blob: [UInt8]) -> Int {
        var offset = 24
        while blob[offset] != TensorCodec.Method.zstd.rawValue {
            offset += 5 + blob.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset + 1, as: UInt32.self)) }
        }
        return offset + 5 + 4  // past the method, length and zstd's magic number
    }
}
