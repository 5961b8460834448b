import CZlib
import CZstd
import Foundation
import SafeTensors

/// Lossless compression of tensor bytes, after ZipNN (Hershcovitch et al. 2024): a float's bytes
/// compress badly together but well apart. The exponent byte of neural-network weights takes few
/// values; the low mantissa bytes are close to random. So each chunk is split into byte streams
/// (byte k of every element in stream k), after rotating bf16 and f32 values left by one bit so
/// the 8-bit exponent fills a byte of its own, and each stream is zstd-compressed only when that
/// pays (random mantissa bytes are stored raw, which is also what makes decoding fast).
///
/// Blob layout (little-endian), specified in formats/registry.md:
///   "TLRB", version u8 (1), element width u8 (1, 2, 4, 8), transform u8 (0 none, 1 byte streams,
///   2 rotate-by-one + byte streams), reserved u8, raw length u64, chunk bytes u32, chunk count u32,
///   then per chunk and per stream: method u8 (0 stored, 1 zstd, 2 zlib), stored length u32, bytes.
public enum TensorCodec {
    public enum Transform: UInt8, Sendable { case none = 0, byteStreams = 1, rotatedByteStreams = 2 }
    public enum Method: UInt8, Sendable { case stored = 0, zstd = 1, zlib = 2 }

    static let magic: [UInt8] = Array("TLRB".utf8)
    static let headerSize = 24
    /// A strong zstd level: its optimal parser finds the short repeats in exponent streams that
    /// fast levels miss (a MiniLM bf16 checkpoint: 1.42x at level 3, 1.50x at 15, the same as 19 at
    /// twice 19's speed). Only streams a level-1 probe shows compressible pay for it, so random
    /// mantissa bytes cost little. Decoding speed does not depend on the level.
    public static let defaultLevel: Int32 = 15
    /// 256 KiB: large enough for zstd to find structure, small enough to stay in L2 while grouping.
    public static let defaultChunkBytes = 1 << 18

    /// Compresses one tensor's bytes, grouped as its dtype suits.
    public static func encode(_ bytes: [UInt8], dtype: DType, level: Int32 = defaultLevel, method: Method = .zstd) -> [UInt8] {
        let width = max(dtype.bitSize / 8, 1)
        let transform = dtype.bitSize % 8 == 0 ? transform(width: width, dtype: dtype.rawValue) : .none
        return encode(bytes, width: dtype.bitSize % 8 == 0 ? width : 1, transform: transform, level: level, method: method)
    }

    /// How bytes of a dtype with `width`-byte elements are grouped: bf16 ("BF16") and f32 keep an
    /// 8-bit exponent one bit off a byte boundary, so they are rotated; other floats are split.
    public static func transform(width: Int, dtype: String) -> Transform {
        switch dtype.uppercased() {
        case "BF16", "F32": return .rotatedByteStreams
        case "F16", "F64", "F8_E4M3", "F8_E5M2": return width > 1 ? .byteStreams : .none
        default: return .none
        }
    }

    /// Compresses `bytes` (elements of `width` bytes) chunk by chunk with `method` (zstd; zlib
    /// for readers without zstd), keeping a stream stored whenever compressing it does not pay.
    public static func encode(
        _ bytes: [UInt8], width: Int, transform: Transform, level: Int32 = defaultLevel, method: Method = .zstd,
        chunkBytes: Int = defaultChunkBytes
    ) -> [UInt8] {
        precondition([1, 2, 4, 8].contains(width) && bytes.count % width == 0)
        let chunk = max(width, chunkBytes / width * width)
        let chunks = (bytes.count + chunk - 1) / chunk
        var out = magic + [1, UInt8(width), transform.rawValue, 0]
        append(UInt64(bytes.count), to: &out)
        append(UInt32(chunk), to: &out)
        append(UInt32(chunks), to: &out)
        let streams = transform == .none ? 1 : width
        // Buffers sized for the largest chunk actually present: adapters are many small tensors.
        let largest = min(chunk, bytes.count)
        var grouped = [UInt8](repeating: 0, count: largest)
        var scratch = [UInt8](repeating: 0, count: max(ZSTD_compressBound(largest), Int(compressBound(uLong(largest)))))
        ZstdContexts.shared.withCompressor { context in
            bytes.withUnsafeBufferPointer { source in
                for index in 0..<chunks {
                    let start = index * chunk, count = min(chunk, bytes.count - start)
                    grouped.withUnsafeMutableBufferPointer { target in
                        group(source.baseAddress! + start, count: count, width: width, transform: transform, into: target.baseAddress!)
                    }
                    let streamLength = count / streams
                    for stream in 0..<streams {
                        grouped.withUnsafeBufferPointer { g in
                            let input = g.baseAddress! + stream * streamLength
                            // A fast probe first: streams it cannot shrink by 2% are stored as they are.
                            let probe =
                                level > 1
                                ? compress(input, count: streamLength, method: method, level: 1, context: context, into: &scratch) : nil
                            let worthIt = level <= 1 || (probe.map { Double($0) < 0.98 * Double(streamLength) } ?? false)
                            let packed =
                                worthIt
                                ? compress(input, count: streamLength, method: method, level: level, context: context, into: &scratch) : nil
                            if let packed, packed < streamLength {
                                out.append(method.rawValue)
                                append(UInt32(packed), to: &out)
                                out.append(contentsOf: scratch[0..<packed])
                            } else {
                                out.append(Method.stored.rawValue)
                                append(UInt32(streamLength), to: &out)
                                out.append(contentsOf: UnsafeBufferPointer(start: input, count: streamLength))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Restores the bytes `encode` was given. `maxLength` bounds the output a blob may claim
    /// (the size the index recorded), so a hostile header cannot make us allocate without limit.
    /// `file` is the blob's path, which errors name.
    public static func decode(_ blob: [UInt8], maxLength: Int, file: String = "tensor blob") throws -> [UInt8] {
        func failure(_ why: String) -> RegistryError { RegistryError(file: file, why) }
        guard blob.count >= headerSize, Array(blob[0..<4]) == magic else { throw failure("not a Tailor tensor blob") }
        guard blob[4] == 1 else { throw failure("blob version \(blob[4]) is not supported") }
        let width = Int(blob[5])
        guard [1, 2, 4, 8].contains(width), let transform = Transform(rawValue: blob[6]) else {
            throw failure("bad element width or transform")
        }
        let claimed = read(UInt64.self, blob, at: 8)
        let chunk = Int(read(UInt32.self, blob, at: 16)), chunks = Int(read(UInt32.self, blob, at: 20))
        guard let length = Int(exactly: claimed), length <= maxLength else {
            throw failure("blob claims \(claimed) bytes, more than the \(maxLength) recorded")
        }
        guard chunk > 0, chunk % width == 0, length % width == 0, chunks == (length + chunk - 1) / chunk else {
            throw failure("inconsistent chunk layout")
        }
        let streams = transform == .none ? 1 : width
        var out = [UInt8](repeating: 0, count: length)
        var grouped = [UInt8](repeating: 0, count: min(chunk, length))
        var offset = headerSize
        try ZstdContexts.shared.withDecompressor { context in
            try out.withUnsafeMutableBufferPointer { target in
                for index in 0..<chunks {
                    let start = index * chunk, count = min(chunk, length - start)
                    let streamLength = count / streams
                    for stream in 0..<streams {
                        guard offset + 5 <= blob.count, let method = Method(rawValue: blob[offset]) else {
                            throw failure("truncated or corrupt chunk header")
                        }
                        let stored = Int(read(UInt32.self, blob, at: offset + 1))
                        offset += 5
                        guard offset + stored <= blob.count else { throw failure("truncated blob") }
                        try grouped.withUnsafeMutableBufferPointer { g in
                            let destination = g.baseAddress! + stream * streamLength
                            try blob.withUnsafeBufferPointer { b in
                                try decompress(
                                    b.baseAddress! + offset, count: stored, method: method, context: context, into: destination,
                                    expected: streamLength, file: file)
                            }
                        }
                        offset += stored
                    }
                    grouped.withUnsafeBufferPointer { g in
                        ungroup(g.baseAddress!, count: count, width: width, transform: transform, into: target.baseAddress! + start)
                    }
                }
            }
        }
        guard offset == blob.count else { throw failure("\(blob.count - offset) bytes after the last chunk") }
        return out
    }

    // MARK: byte streams

    static func group(
        _ source: UnsafePointer<UInt8>, count: Int, width: Int, transform: Transform,
        into target: UnsafeMutablePointer<UInt8>
    ) {
        let n = count / width
        switch (transform, width) {
        case (.none, _), (_, 1):
            target.update(from: source, count: count)
        case (.rotatedByteStreams, 2):
            let values = UnsafeRawPointer(source)
            for i in 0..<n {
                let v = values.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                let r = v << 1 | v >> 15
                target[i] = UInt8(truncatingIfNeeded: r)
                target[n + i] = UInt8(truncatingIfNeeded: r >> 8)
            }
        case (.rotatedByteStreams, 4):
            let values = UnsafeRawPointer(source)
            for i in 0..<n {
                let v = values.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                let r = v << 1 | v >> 31
                target[i] = UInt8(truncatingIfNeeded: r)
                target[n + i] = UInt8(truncatingIfNeeded: r >> 8)
                target[2 * n + i] = UInt8(truncatingIfNeeded: r >> 16)
                target[3 * n + i] = UInt8(truncatingIfNeeded: r >> 24)
            }
        default:
            for i in 0..<n { for k in 0..<width { target[k * n + i] = source[i * width + k] } }
        }
    }

    static func ungroup(
        _ source: UnsafePointer<UInt8>, count: Int, width: Int, transform: Transform,
        into target: UnsafeMutablePointer<UInt8>
    ) {
        let n = count / width
        switch (transform, width) {
        case (.none, _), (_, 1):
            target.update(from: source, count: count)
        case (.rotatedByteStreams, 2):
            let values = UnsafeMutableRawPointer(target)
            for i in 0..<n {
                let r = UInt16(source[i]) | UInt16(source[n + i]) << 8
                values.storeBytes(of: r >> 1 | r << 15, toByteOffset: i * 2, as: UInt16.self)
            }
        case (.rotatedByteStreams, 4):
            let values = UnsafeMutableRawPointer(target)
            for i in 0..<n {
                let r = UInt32(source[i]) | UInt32(source[n + i]) << 8 | UInt32(source[2 * n + i]) << 16 | UInt32(source[3 * n + i]) << 24
                values.storeBytes(of: r >> 1 | r << 31, toByteOffset: i * 4, as: UInt32.self)
            }
        default:
            for i in 0..<n { for k in 0..<width { target[i * width + k] = source[k * n + i] } }
        }
    }

    // MARK: entropy coders

    static func compress(
        _ input: UnsafePointer<UInt8>, count: Int, method: Method, level: Int32, context: OpaquePointer?,
        into scratch: inout [UInt8]
    ) -> Int? {
        guard count > 0 else { return nil }
        return scratch.withUnsafeMutableBufferPointer { out -> Int? in
            switch method {
            case .zstd:
                let written = ZSTD_compressCCtx(context, out.baseAddress, out.count, input, count, level)
                return ZSTD_isError(written) != 0 ? nil : written
            case .zlib:
                var written = uLongf(out.count)
                return compress2(out.baseAddress, &written, input, uLong(count), min(level, 9)) == Z_OK ? Int(written) : nil
            case .stored:
                return nil
            }
        }
    }

    static func decompress(
        _ input: UnsafePointer<UInt8>, count: Int, method: Method, context: OpaquePointer?,
        into output: UnsafeMutablePointer<UInt8>, expected: Int, file: String
    ) throws {
        func failure(_ why: String) -> RegistryError { RegistryError(file: file, why) }
        switch method {
        case .stored:
            guard count == expected else { throw failure("stored stream has \(count) bytes, expected \(expected)") }
            output.update(from: input, count: count)
        case .zstd:
            let written = ZSTD_decompressDCtx(context, output, expected, input, count)
            guard ZSTD_isError(written) == 0, written == expected else { throw failure("zstd stream is corrupt") }
        case .zlib:
            var written = uLongf(expected)
            guard uncompress(output, &written, input, uLong(count)) == Z_OK, Int(written) == expected else {
                throw failure("zlib stream is corrupt")
            }
        }
    }

    // MARK: little-endian fields

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
