import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import GGUF

/// Against the `gguf` package 0.19.0 and llama.cpp's own converter
/// (Scripts/reference/gguf_goldens.py): block formats bit for bit, a file gguf's writer made
/// (every value type, five tensor types, alignment 64) read as gguf reads it, and the converter's
/// GGUF of the tiny Llama read whole.
@Suite struct GGUFGoldenTests {
    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path(path)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test(arguments: [("F16", GGMLType.f16), ("BF16", .bf16), ("Q8_0", .q8_0), ("Q4_0", .q4_0)])
    func blocksAreBitExact(name: String, type: GGMLType) throws {
        let golden = try SafeTensorsFile(path: FixturePaths.path("gguf/quants/\(name).safetensors"))
        let input = try golden.tensor("input"), quantized = try golden.tensor("quantized"), dequantized = try golden.tensor("dequantized")
        let (rows, columns) = (input.shape[0], input.shape[1])
        let values = try input.floats(), expected = [UInt8](quantized.data), decoded = try dequantized.floats()
        let rowBytes = type.bytes(forValues: columns)
        for row in 0..<rows {
            let ours = GGMLBlocks.quantize(Array(values[(row * columns)..<((row + 1) * columns)]), type: type)
            #expect(ours == Array(expected[(row * rowBytes)..<((row + 1) * rowBytes)]), "\(name) row \(row): encoding")
            let back = try expected[(row * rowBytes)..<((row + 1) * rowBytes)].withUnsafeBytes {
                try GGMLBlocks.dequantize($0, type: type, count: columns, file: "golden", tensor: name)
            }
            let reference = Array(decoded[(row * columns)..<((row + 1) * columns)])
            #expect(
                back.map(\.bitPattern) == reference.map(\.bitPattern)
                    || zip(back, reference).allSatisfy { $0.isNaN && $1.isNaN || $0 == $1 },
                "\(name) row \(row): decoding")
        }
    }

    /// The K-quants llama.cpp's Q4_K_M files hold are decoded (not written) bit for bit.
    @Test(arguments: [("Q4_K", GGMLType.q4_K), ("Q6_K", .q6_K)]) func kQuantsDecodeBitExact(name: String, type: GGMLType) throws {
        let golden = try SafeTensorsFile(path: FixturePaths.path("gguf/quants/\(name).safetensors"))
        let quantized = try golden.tensor("quantized"), dequantized = try golden.tensor("dequantized")
        let (rows, columns) = (dequantized.shape[0], dequantized.shape[1])
        let expected = try dequantized.floats()
        let rowBytes = type.bytes(forValues: columns)
        #expect(quantized.shape == [rows, rowBytes])
        let bytes = [UInt8](quantized.data)
        for row in 0..<rows {
            let decoded = try bytes[(row * rowBytes)..<((row + 1) * rowBytes)].withUnsafeBytes {
                try GGMLBlocks.dequantize($0, type: type, count: columns, file: "golden", tensor: name)
            }
            #expect(decoded.map(\.bitPattern) == expected[(row * columns)..<((row + 1) * columns)].map(\.bitPattern), "\(name) row \(row)")
        }
    }

    @Test func aFileGGUFsWriterMadeReadsAsGGUFReadsIt() throws {
        let golden = try Self.json("gguf/all-types.json")
        let file = try GGUFFile(path: FixturePaths.path("gguf/all-types.gguf"))
        #expect(Int(file.version) == golden["version"] as? Int && file.alignment == golden["alignment"] as? Int)
        #expect(file.dataOffset == golden["data_offset"] as? Int)
        let entries = try #require(golden["metadata"] as? [[String: Any]])
        #expect(file.metadata.map(\.key) == entries.compactMap { $0["key"] as? String })
        for (entry, (key, value)) in zip(entries, file.metadata) {
            #expect(
                String(describing: value.type).uppercased() == (entry["type"] as? String)?.replacingOccurrences(of: "_", with: ""), "\(key)"
            )
            switch value {
            case .string(let text): #expect(text == entry["value"] as? String, "\(key)")
            case .bool(let flag): #expect(flag == entry["value"] as? Bool, "\(key)")
            case .float32(let number): #expect(Double(number) == (entry["value"] as? NSNumber)?.doubleValue, "\(key)")
            case .float64(let number): #expect(number == (entry["value"] as? NSNumber)?.doubleValue, "\(key)")
            case .array: break
            default:
                let text = entry["value_text"] as? String ?? (entry["value"] as? NSNumber)?.stringValue
                var ours = value.integer.map(String.init)
                if case .uint64(let number) = value { ours = String(number) }
                #expect(ours != nil && ours == text, "\(key)")
            }
        }
        let tensors = try #require(golden["tensors"] as? [[String: Any]])
        #expect(file.tensors.map(\.name) == tensors.compactMap { $0["name"] as? String })
        for (info, entry) in zip(file.tensors, tensors) {
            #expect(info.dimensions == entry["ne"] as? [Int] && info.type.name == entry["type"] as? String, "\(info.name)")
            #expect(info.offset == entry["offset"] as? Int && info.byteCount == entry["n_bytes"] as? Int, "\(info.name)")
            let values = (entry["values"] as? [Any] ?? []).map { ($0 as? NSNumber)?.floatValue ?? .nan }
            #expect(try file.floats(of: info) == values, "\(info.name)")
        }
    }

    @Test func llamaCppsConverterOutputReadsWhole() throws {
        let golden = try Self.json("gguf/tiny-llama-converter.json")
        let model = try #require((golden["models"] as? [String: Any])?["f16"] as? [String: Any])
        let file = try GGUFFile(path: FixturePaths.path("gguf/tiny-llama-f16.gguf"))
        let entries = try #require(model["metadata"] as? [[String: Any]])
        #expect(file.metadata.map(\.key) == entries.compactMap { $0["key"] as? String })
        let tokens = try #require(entries.first { $0["key"] as? String == "tokenizer.ggml.tokens" })
        #expect(file["tokenizer.ggml.tokens"]?.strings?.count == tokens["length"] as? Int)
        #expect(Array(file["tokenizer.ggml.tokens"]?.strings?.prefix(20) ?? []) == tokens["first"] as? [String])
        let tensors = try #require(model["tensors"] as? [[String: Any]])
        #expect(Set(file.tensors.map(\.name)) == Set(tensors.compactMap { $0["name"] as? String }))
        for entry in tensors {
            let info = try file.tensor(entry["name"] as? String ?? "")
            #expect(info.dimensions == entry["ne"] as? [Int] && info.type.name == entry["type"] as? String)
            _ = try file.floats(of: info)
        }
    }
}
