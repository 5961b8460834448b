import Foundation
import Testing

@testable import SafeTensors

/// Property tests: random dtypes, shapes (zero-sized and scalars included), names and metadata
/// survive write → read unchanged, and re-serializing what was read gives the same bytes.
@Suite struct RoundTripTests {
    /// A small deterministic generator (SplitMix64) so failures reproduce from the seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func randomName(_ rng: inout SplitMix) -> String {
        let alphabet = Array("abcXYZ019._-/ \"\\\n\té名😀")
        return String((0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func randomTensors(_ rng: inout SplitMix) -> [TensorData] {
        var names = Set<String>()
        var tensors: [TensorData] = []
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            let dtype = DType.allCases.randomElement(using: &rng)!
            var shape = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...5, using: &rng) }
            // Sub-byte dtypes need whole bytes: pad the element count with a last dimension.
            while dtype.byteCount(elements: shape.reduce(1, *)) == nil { shape.append(4) }
            let name = randomName(&rng)
            guard name != "__metadata__", names.insert(name).inserted else { continue }
            let count = dtype.byteCount(elements: shape.reduce(1, *))!
            tensors.append(
                TensorData(
                    name: name, dtype: dtype, shape: shape,
                    bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
        return tensors
    }

    static func randomMetadata(_ rng: inout SplitMix) -> [String: String]? {
        switch Int.random(in: 0...2, using: &rng) {
        case 0: return nil
        case 1: return [:]
        default:
            return Dictionary(
                (0..<Int.random(in: 1...4, using: &rng)).map { _ in (randomName(&rng), randomName(&rng)) },
                uniquingKeysWith: { a, _ in a })
        }
    }

    @Test(arguments: 0..<200)
    func inMemoryRoundTrip(seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        let tensors = Self.randomTensors(&rng)
        var metadata = Self.randomMetadata(&rng)
        // An empty metadata map with no tensors is the official writer's invalid-JSON case;
        // ours writes valid JSON, checked in WriterGoldenTests.
        if tensors.isEmpty, metadata == [:] { metadata = nil }
        let bytes = try SafeTensorsWriter.serialize(tensors, metadata: metadata)
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.metadata == metadata)
        #expect(file.tensors.count == tensors.count)
        for tensor in tensors {
            let view = try file.tensor(tensor.spec.name)
            #expect(view.dtype == tensor.spec.dtype && view.shape == tensor.spec.shape && view.data == tensor.bytes)
        }
        #expect(file.header.length % 8 == 0, "header padded to 8")
        let again = try SafeTensorsWriter.serialize(
            file.tensors.map { info in
                TensorData(name: info.name, dtype: info.dtype, shape: info.shape, bytes: file.view(of: info).data)
            }, metadata: file.metadata)
        #expect(again == bytes)
    }

    @Test(arguments: 0..<20)
    func onDiskRoundTrip(seed: UInt64) throws {
        var rng = SplitMix(state: 1000 + seed)
        let tensors = Self.randomTensors(&rng)
        let folder = TemporaryFolder()
        let path = folder.file("t.safetensors")
        try SafeTensorsWriter.write(tensors, metadata: ["seed": "\(seed)"], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(
            Array(UnsafeRawBufferPointer(file.storage.bytes)) == (try SafeTensorsWriter.serialize(tensors, metadata: ["seed": "\(seed)"])))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["t.safetensors"])
    }

    @Test func unfinishedWriterLeavesNothing() throws {
        let folder = TemporaryFolder()
        let path = folder.file("partial.safetensors")
        do {
            let writer = try SafeTensorsWriter(path: path, tensors: [TensorSpec(name: "a", dtype: .f32, shape: [4])])
            try writer.write("a", [0, 0, 0, 0])
            #expect(throws: SafeTensorsError.self) { try writer.finish() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        do {
            let writer = try SafeTensorsWriter(path: path, tensors: [TensorSpec(name: "a", dtype: .u8, shape: [2])])
            try writer.write("a", [1, 2])
            #expect(throws: SafeTensorsError.self) { try writer.write("a", [3]) }
            _ = writer  // dropped without finish: the temporary file goes with it
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}
