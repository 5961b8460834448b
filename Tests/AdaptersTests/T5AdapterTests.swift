import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

/// A PEFT SEQ_2_SEQ_LM LoRA adapter on T5 (q and v of every self- and cross-attention) gives
/// PEFT's logits and greedy tokens (Scripts/reference/t5_goldens.py); merged into the base it
/// gives the same logits.
@Suite struct T5AdapterTests {
    static func model() throws -> T5 {
        try #require(try ModelLoader.load(folder: FixturePaths.path("models/tiny-t5"), head: .seq2seqLM) as? T5)
    }

    static func batch() throws -> TokenBatch {
        let golden = try PEFTInteropTests.Golden(path: FixturePaths.path("models/tiny-t5-parity.safetensors"))
        var batch = try golden.batch()
        batch.decoderIds = try golden.ints("decoder_input_ids")
        batch.decoderLength = try golden.file.tensor("decoder_input_ids").shape[1]
        return batch
    }

    @Test func peftsLoRAGivesPEFTsLogitsAndTokens() throws {
        let model = try Self.model()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-t5-lora"), into: model)
        #expect(lora.layers.count == 12, "q and v of 2 encoder self-, 2 decoder self- and 2 cross-attentions")
        let logits = model.forward(Graph(recording: false), try Self.batch()).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-t5-lora-logits.safetensors")).tensor("logits").floats()
        let (difference, _) = PEFTInteropTests.maxDifference(logits, expected)
        #expect(difference < 1e-4, "logits differ by \(difference)")
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("models/tiny-t5-generate.json")))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for entry in try #require(golden["lora"] as? [[String: Any]]) {
            let ids = try #require(entry["input_ids"] as? [Int]), expected = try #require(entry["output_ids"] as? [Int])
            let cache = model.makeCache(capacity: ids.count + expected.count + 1)
            var step = model.prefill(ids, cache: cache, adapterSlot: nil)
            var tokens = [model.config.decoderStartTokenId]
            while tokens.count < expected.count {
                let row = Array(step.values.suffix(model.config.vocabSize))
                let next = row.indices.max { row[$0] < row[$1] }!
                tokens.append(next)
                step = model.step([next], cache: cache, adapterSlot: nil)
            }
            #expect(tokens == expected)
        }
    }

    @Test func mergedIntoTheBaseGivesTheSameLogits() throws {
        let model = try Self.model()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-t5-lora"), into: model)
        let batch = try Self.batch()
        let adapted = model.forward(Graph(recording: false), batch).values
        let parameters = try BaseMerge.mergedParameters(of: model)
        #expect(!parameters.contains { $0.name.contains("lora") })
        #expect(Set(parameters.map(\.name)) == Set(try Self.model().namedParameters.map(\.0)))
        let folder = TemporaryFolder()
        let tensors = parameters.map { name, values, shape in
            TensorData(name: name, dtype: .f32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("model.safetensors"))
        for file in ["config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: FixturePaths.path("models/tiny-t5/" + file), toPath: folder.file(file))
        }
        let merged = try #require(try ModelLoader.load(folder: folder.path, head: .seq2seqLM) as? T5)
        let (difference, _) = PEFTInteropTests.maxDifference(merged.forward(Graph(recording: false), batch).values, adapted)
        #expect(difference < 1e-5, "merged logits differ by \(difference)")
        _ = lora
    }
}
