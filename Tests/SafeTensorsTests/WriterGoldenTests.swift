import Foundation
import Testing

@testable import SafeTensors

/// Files written by the official Python `safetensors` 0.8.0 are reproduced byte for byte from the
/// same tensors and metadata, and read back equal.
@Suite struct WriterGoldenTests {
    struct Case {
        var file: String
        var metadata: [String: String]?
        var tensors: [TensorData]
    }

    /// The official writer serializes empty metadata with no tensors as `{},"__metadata__":{}}`
    /// (serde_json closes a map sized 0 at once): a file its own reader rejects. We write valid
    /// JSON there instead; `officialWriterBugIsNotReproduced` pins both facts.
    static let officialWriterBug = "empty-metadata.safetensors"

    static func cases() throws -> [Case] {
        let manifest = try Fixtures.json("safetensors/writer/manifest.json") as! [String: Any]
        return (manifest["cases"] as! [[String: Any]]).map { entry in
            let tensors = (entry["tensors"] as! [[String: Any]]).map { tensor -> TensorData in
                let dtype = DType(rawValue: tensor["dtype"] as! String)!
                let shape = tensor["shape"] as! [Int]
                let count = dtype.byteCount(elements: shape.reduce(1, *))!
                return TensorData(
                    name: tensor["name"] as! String, dtype: dtype, shape: shape,
                    bytes: Fixtures.pattern(seed: tensor["seed"] as! Int, count: count, dtype: dtype))
            }
            return Case(file: entry["file"] as! String, metadata: entry["metadata"] as? [String: String], tensors: tensors)
        }.filter { $0.file != officialWriterBug }
    }

    @Test func officialWriterBugIsNotReproduced() throws {
        let path = Fixtures.path("safetensors/writer/" + Self.officialWriterBug)
        #expect {
            _ = try SafeTensorsFile(path: path)
        } throws: { error in
            guard let error = error as? SafeTensorsError, case .invalidHeaderJSON = error.kind else { return false }
            return true
        }
        let ours = try SafeTensorsWriter.serialize([], metadata: [:])
        #expect(ours == [24, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"__metadata__":{}}"#.utf8) + [32, 32, 32, 32, 32])
        #expect(try SafeTensorsFile(bytes: ours).metadata == [:])
    }

    @Test func everyDTypeHasAGolden() throws {
        let written = Set(try Self.cases().flatMap { $0.tensors.map(\.spec.dtype) })
        // Python's safetensors cannot write the F6 types; CrateVectorTests covers their sizes.
        #expect(written == Set(DType.allCases).subtracting([.f6E2M3, .f6E3M2]))
    }

    @Test func serializedBytesEqualTheOfficialWriter() throws {
        for golden in try Self.cases() {
            let expected = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/writer/" + golden.file)))
            let ours = try SafeTensorsWriter.serialize(golden.tensors, metadata: golden.metadata)
            #expect(ours == Array(expected), "\(golden.file)")
        }
    }

    @Test func streamingWriterWritesTheSameFile() throws {
        let folder = TemporaryFolder()
        for golden in try Self.cases() {
            let path = folder.file(golden.file)
            // Data goes in reverse order and in two pieces per tensor: layout must not depend on it.
            let writer = try SafeTensorsWriter(path: path, tensors: golden.tensors.map(\.spec), metadata: golden.metadata)
            for tensor in golden.tensors.reversed() {
                let half = tensor.bytes.count / 2
                try tensor.bytes.withUnsafeBytes { raw in
                    try writer.write(tensor.spec.name, UnsafeRawBufferPointer(rebasing: raw[half...]), at: half)
                    try writer.write(tensor.spec.name, UnsafeRawBufferPointer(rebasing: raw[..<half]), at: 0)
                }
            }
            try writer.finish()
            let expected = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/writer/" + golden.file)))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected, "\(golden.file)")
        }
    }

    @Test func goldensReadBackEqual() throws {
        for golden in try Self.cases() {
            let file = try SafeTensorsFile(path: Fixtures.path("safetensors/writer/" + golden.file))
            #expect(file.metadata == golden.metadata, "\(golden.file)")
            #expect(Set(file.tensorNames) == Set(golden.tensors.map(\.spec.name)), "\(golden.file)")
            for tensor in golden.tensors {
                let view = try file.tensor(tensor.spec.name)
                #expect(view.dtype == tensor.spec.dtype)
                #expect(view.shape == tensor.spec.shape)
                #expect(view.data == tensor.bytes, "\(golden.file): \(tensor.spec.name)")
            }
        }
    }
}
