import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import GGUF

/// GGUF files this module writes read back exactly, and each rule of the reader is an error with
/// one message, never a trap: the same strictness as the safetensors reader.
@Suite struct GGUFFileTests {
    static func sample(alignment: UInt32? = nil) -> GGUFWriter {
        var writer = GGUFWriter()
        if let alignment { writer.set("general.alignment", .uint32(alignment)) }
        writer.set("general.architecture", .string("llama"))
        writer.set("u8", .uint8(200))
        writer.set("i8", .int8(-5))
        writer.set("u16", .uint16(60000))
        writer.set("i16", .int16(-300))
        writer.set("u32", .uint32(4_000_000_000))
        writer.set("i32", .int32(-70000))
        writer.set("f32", .float32(0.25))
        writer.set("yes", .bool(true))
        writer.set("u64", .uint64(1 << 40))
        writer.set("i64", .int64(-(1 << 40)))
        writer.set("f64", .float64(1e-300))
        writer.set("tokens", .array(.string, [.string("<s>"), .string("héllo"), .string("")]))
        writer.set("nested", .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])]))
        writer.tensors = [
            .init(name: "vector", shape: [5], type: .f32, values: [1, -2, 3.5, 0, .infinity]),
            .init(name: "matrix.f16", shape: [2, 3], type: .f16, values: [0.5, -1, 2, 65504, 1e-8, -0]),
            .init(name: "cube.bf16", shape: [2, 2, 2], type: .bf16, values: (0..<8).map { Float($0) / 3 }),
            .init(name: "q8", shape: [2, 32], type: .q8_0, values: (0..<64).map { sin(Float($0)) }),
            .init(name: "q4", shape: [1, 64], type: .q4_0, values: (0..<64).map { cos(Float($0)) * 3 }),
        ]
        return writer
    }

    static func read(_ bytes: [UInt8]) throws -> GGUFFile {
        try GGUFFile(storage: MappedStorage(copying: bytes), path: "test.gguf")
    }

    static func message(_ bytes: [UInt8]) -> String {
        do {
            _ = try read(bytes)
            return "read"
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [nil, 64] as [UInt32?]) func writtenFilesReadBack(alignment: UInt32?) throws {
        let writer = Self.sample(alignment: alignment)
        let file = try Self.read(try writer.encoded(file: "test.gguf"))
        #expect(file.version == 3 && file.alignment == Int(alignment ?? 32))
        #expect(file.metadata.map(\.key) == writer.metadata.map(\.key))
        #expect(file.metadata.map(\.value) == writer.metadata.map(\.value))
        #expect(file.dataOffset % file.alignment == 0)
        for tensor in writer.tensors {
            let info = try file.tensor(tensor.name)
            #expect(info.shape == tensor.shape && info.type == tensor.type && info.offset % file.alignment == 0)
            #expect(Array(file.bytes(of: info)) == tensor.bytes)
        }
        #expect(try file.floats(of: file.tensor("vector")) == [1, -2, 3.5, 0, .infinity])
        #expect(try file.floats(of: file.tensor("matrix.f16")) == [0.5, -1, 2, 65504, 0, -0])
    }

    /// The header of the sample with one field changed at `offset` (found by searching).
    static func patched(_ change: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var bytes = try sample().encoded(file: "test.gguf")
        change(&bytes)
        return bytes
    }

    static func range(of text: String, in bytes: [UInt8]) -> Range<Int> {
        let needle = Array(text.utf8)
        let start = (0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }!
        return start..<(start + needle.count)
    }

    @Test func everyRuleIsAnError() throws {
        let good = try Self.sample().encoded(file: "test.gguf")
        #expect(Self.message(good) == "read")
        #expect(Self.message([]).contains("too short"))
        #expect(Self.message(Array(good.prefix(3))).contains("too short"))
        #expect(Self.message(try Self.patched { $0[0] = UInt8(ascii: "X") }).contains("no GGUF magic"))
        #expect(Self.message(try Self.patched { $0[4] = 1 }).contains("version 1 is not supported"))
        // The last tensor (36 bytes of Q4_0) is followed by 28 bytes of padding: cutting into it is an error.
        for cut in [30, 100, good.count / 2, good.count - 29] {
            let text = Self.message(Array(good.prefix(cut)))
            #expect(text.hasPrefix("test.gguf: ") && text != "read", "cut at \(cut): \(text)")
        }
        // Counts larger than the file could hold.
        #expect(
            Self.message(
                try Self.patched {
                    $0[8] = 0xff
                    $0[9] = 0xff
                }
            ).contains("more than the file could hold"))
        // Duplicate keys and tensor names (renamed to collide with their neighbour).
        #expect(
            Self.message(try Self.patched { b in b.replaceSubrange(Self.range(of: "i16", in: b), with: Array("u16".utf8)) }).contains(
                "appears twice"))
        #expect(
            Self.message(
                try Self.patched { b in
                    b.replaceSubrange(
                        Self.range(of: "q4", in: b).upperBound - 1..<Self.range(of: "q4", in: b).upperBound, with: Array("8".utf8))
                }
            )
            .contains("q8 appears twice"))
        // A bool that is neither 0 nor 1.
        #expect(Self.message(try Self.patched { b in b[Self.range(of: "yes", in: b).upperBound + 4] = 2 }).contains("must be 0 or 1"))
        // An unknown value type, an unknown tensor type.
        #expect(Self.message(try Self.patched { b in b[Self.range(of: "u8", in: b).upperBound] = 99 }).contains("unknown value type 99"))
        #expect(
            Self.message(try Self.patched { b in b[Self.range(of: "vector", in: b).upperBound + 12] = 99 }).contains("unknown ggml type 99")
        )
        // Invalid UTF-8 in a string value.
        #expect(Self.message(try Self.patched { b in b[Self.range(of: "llama", in: b).lowerBound] = 0xff }).contains("not valid UTF-8"))
        // Dimensions: too many, zero.
        #expect(Self.message(try Self.patched { b in b[Self.range(of: "vector", in: b).upperBound] = 5 }).contains("5 dimensions"))
        #expect(
            Self.message(try Self.patched { b in b[Self.range(of: "vector", in: b).upperBound + 4] = 0 }).contains("impossible dimension 0")
        )
        // An offset not aligned, and one past the end.
        #expect(
            Self.message(try Self.patched { b in b[Self.range(of: "matrix.f16", in: b).upperBound + 4 + 16 + 4] += 1 }).contains(
                "not a multiple"))
        #expect(
            Self.message(try Self.patched { b in b[Self.range(of: "q4", in: b).upperBound + 4 + 16 + 4 + 2] = 0x10 }).contains(
                "past the end"))
        // Overlapping tensors: the second points at the first's data.
        #expect(
            Self.message(
                try Self.patched { b in
                    let at = Self.range(of: "matrix.f16", in: b).upperBound + 4 + 16 + 4
                    for i in 0..<8 { b[at + i] = 0 }
                }
            ).contains("overlap"))
        // An alignment that is not a power of two.
        var odd = Self.sample()
        odd.set("general.alignment", .uint32(48))
        #expect(throws: GGUFError.self) { try odd.encoded(file: "test.gguf") }
        var bad = Self.sample(alignment: 64)
        bad.set("general.alignment", .uint32(64))
        var bytes = try bad.encoded(file: "test.gguf")
        bytes[Self.range(of: "general.alignment", in: bytes).upperBound + 4] = 48
        #expect(Self.message(bytes).contains("power of two"))
        // A name longer than ggml's 63 bytes.
        var long = Self.sample()
        long.tensors[0].name = String(repeating: "n", count: 64)
        #expect(throws: GGUFError.self) { try long.encoded(file: "test.gguf") }
    }
}
