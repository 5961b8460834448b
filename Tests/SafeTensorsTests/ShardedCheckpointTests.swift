import Foundation
import Testing

@testable import SafeTensors

@Suite struct ShardedCheckpointTests {
    @Test func readsTransformersShardsAsOneCheckpoint() throws {
        let sharded = try Checkpoint.open(Fixtures.path("tiny-bert-sharded"))
        let single = try Checkpoint.open(Fixtures.path("tiny-bert"))
        guard case .sharded(_, let shards) = sharded.layout else {
            Issue.record("not sharded")
            return
        }
        #expect(shards.count == 3)
        #expect(Set(sharded.tensorNames) == Set(single.tensorNames))
        for name in single.tensorNames {
            #expect(try sharded.tensor(name).data == single.tensor(name).data)
        }
        #expect(sharded.indexMetadata["total_size"] == .int(147_080))
        // The index file itself opens the same checkpoint.
        let viaIndex = try Checkpoint.open(Fixtures.path("tiny-bert-sharded/model.safetensors.index.json"))
        #expect(viaIndex.tensorNames == sharded.tensorNames)
    }

    @Test func indexTextIsWhatTransformersWrites() throws {
        let path = Fixtures.path("tiny-bert-sharded/model.safetensors.index.json")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let root = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let metadata = (root["metadata"] as! [String: Int]).mapValues { PythonJSONText.Value.int($0) }
        let weightMap = (root["weight_map"] as! [String: String]).mapValues { PythonJSONText.Value.string($0) }
        #expect(PythonJSONText.render(.object(["metadata": .object(metadata), "weight_map": .object(weightMap)])) == text)
    }

    @Test func planFollowsHuggingFace() {
        func spec(_ name: String, _ bytes: Int) -> TensorSpec { TensorSpec(name: name, dtype: .u8, shape: [bytes]) }
        let plan = ShardedCheckpointWriter.plan(
            [spec("a", 40), spec("b", 50), spec("c", 200), spec("d", 10), spec("e", 100)],
            maxShardBytes: 100)
        // c exceeds the limit alone; a+b+d = 100 fits exactly; e would tip it over.
        #expect(plan.map { $0.tensors.map(\.name) } == [["c"], ["a", "b", "d"], ["e"]])
        #expect(plan.map(\.fileName) == (1...3).map { "model-0000\($0)-of-00003.safetensors" })
        #expect(ShardedCheckpointWriter.plan([spec("a", 5)], maxShardBytes: 100).map(\.fileName) == ["model.safetensors"])
    }

    @Test func writesShardsAndIndexThatReadBack() throws {
        let folder = TemporaryFolder()
        let tensors = (0..<6).map { i in
            TensorData(name: "layer.\(i).weight", dtype: .f32, shape: [4, 4], bytes: Fixtures.pattern(seed: i, count: 64, dtype: .f32))
        }
        let writer = try ShardedCheckpointWriter(folder: folder.path, tensors: tensors.map(\.spec), maxShardBytes: 150)
        for tensor in tensors.reversed() { try tensor.bytes.withUnsafeBytes { try writer.write(tensor.spec.name, $0) } }
        try writer.finish()
        let checkpoint = try Checkpoint.open(folder.path)
        guard case .sharded(_, let shards) = checkpoint.layout else {
            Issue.record("not sharded")
            return
        }
        #expect(shards.count == 3)
        #expect(checkpoint.indexMetadata == ["total_size": .int(384), "total_parameters": .int(96)])
        for tensor in tensors { #expect(try checkpoint.tensor(tensor.spec.name).data == tensor.bytes) }
        #expect(checkpoint.metadata == ["format": "pt"])
    }

    @Test func indexNamingAShardThatLacksTheTensorIsRefused() throws {
        let folder = TemporaryFolder()
        try SafeTensorsWriter.write([TensorData(name: "a", dtype: .u8, shape: [1], bytes: [1])], to: folder.file("s1.safetensors"))
        try Data(#"{"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}"#.utf8)
            .write(to: URL(fileURLWithPath: folder.file(Checkpoint.indexFileName)))
        #expect {
            _ = try Checkpoint.open(folder.path)
        } throws: { error in
            (error as? SafeTensorsError)?.tensor == "b"
        }
        try Data(#"{"weight_map": {"a": "../s1.safetensors"}}"#.utf8)
            .write(to: URL(fileURLWithPath: folder.file(Checkpoint.indexFileName)))
        #expect(throws: SafeTensorsError.self) { _ = try Checkpoint.open(folder.path) }
    }
}
