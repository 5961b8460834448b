import Foundation
import Testing

@Suite struct InspectEndToEndTests {
    @Test func jsonListsTensorsAndMetadataOfAPythonWrittenFile() throws {
        let path = TailorProcess.fixture("safetensors/writer/mixed.safetensors")
        let result = try TailorProcess.run(["inspect", path, "--json"])
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").count == 1, "one JSON object on one line")
        let json = try #require(result.json)
        #expect(json["metadata"] as? [String: String] == ["format": "pt"])
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == 22)
        let first = try #require(tensors.first)
        #expect(Set(first.keys).isSuperset(of: ["name", "dtype", "shape", "data_offsets"]))
        // Listed in file order: offsets ascend from 0 with no gap.
        var end = 0
        for tensor in tensors {
            let offsets = try #require(tensor["data_offsets"] as? [Int])
            #expect(offsets[0] == end)
            end = offsets[1]
        }
        #expect(json["kind"] as? String == "weights")
    }

    @Test func modelFolderTextReport() throws {
        let result = try TailorProcess.run(["inspect", TailorProcess.fixture("tiny-bert")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("kind: model weights"))
        #expect(result.stdout.contains("parameters: 36,770"))
        #expect(result.stdout.contains("bert.embeddings.word_embeddings.weight"))
        #expect(result.stdout.contains("F32"))
    }

    @Test func shardedCheckpointIsOneCheckpoint() throws {
        let result = try TailorProcess.run(["inspect", TailorProcess.fixture("tiny-bert-sharded"), "--json"])
        #expect(result.status == 0)
        let json = try #require(result.json)
        #expect(json["layout"] as? String == "sharded")
        #expect((json["files"] as? [String])?.count == 3)
        #expect(json["parameters"] as? Int == 36_770)
        #expect((json["tensors"] as? [Any])?.count == 41)
    }

    @Test func recognisesAPEFTAdapterAndABitsAndBytesCheckpoint() throws {
        let folder = TemporaryFolder()
        let adapter =
            #"{"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#
        try writeSafeTensors(header: adapter, dataBytes: 4, to: folder.file("adapter_model.safetensors"))
        try Data(#"{"peft_type": "LORA", "r": 1}"#.utf8).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
        let peft = try TailorProcess.run(["inspect", folder.path, "--json"])
        #expect(peft.json?["kind"] as? String == "peft-adapter")
        #expect(peft.json?["peft_type"] as? String == "LORA")

        let state = Array(#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [8, 16]}"#.utf8)
        let bnb =
            #"{"w":{"dtype":"U8","shape":[64,1],"data_offsets":[0,64]},"w.absmax":{"dtype":"F32","shape":[2],"data_offsets":[64,72]},"w.quant_state.bitsandbytes__nf4":{"dtype":"U8","shape":[\#(state.count)],"data_offsets":[72,\#(72 + state.count)]}}"#
        let path = folder.file("bnb.safetensors")
        try writeSafeTensors(header: bnb, dataBytes: 72, extra: state, to: path)
        let result = try TailorProcess.run(["inspect", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["kind"] as? String == "bitsandbytes-4bit")
        #expect(result.json?["parameters"] as? Int == 128, "a 4-bit weight counts its original elements")
    }
}

/// Writes a file from a hand-made header: zero data bytes, then `extra`.
func writeSafeTensors(header: String, dataBytes: Int, extra: [UInt8] = [], to path: String) throws {
    var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
    bytes += Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes) + extra
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
