import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import Tokenizers
import TrainingCore

@testable import Models

/// Tiny T5 (v1.0: relu, tied embeddings) and Flan-T5 (gated-gelu, its own lm_head, a deeper
/// decoder) against transformers 5.24 (Scripts/reference/t5_goldens.py): the encoder's output,
/// logits and loss with padded sources and targets, every gradient, ten AdamW steps, and greedy
/// generation through the cache.
@Suite struct T5ParityTests {
    static func load(_ name: String, trainable: Bool) throws -> T5 {
        let model = try #require(
            try ModelLoader.load(folder: FixturePaths.path("models/" + name), head: .seq2seqLM, trainable: trainable) as? T5)
        if trainable { model.config.dropout = 0 }
        return model
    }

    static func batch(_ golden: ParityGolden) throws -> (TokenBatch, labels: [Int]) {
        var batch = try golden.batch(tokenTypes: false)
        batch.decoderIds = try golden.integers("decoder_input_ids")
        batch.decoderLength = try golden.shape("decoder_input_ids")[1]
        return (batch, try golden.integers("labels"))
    }

    @Test(arguments: ["tiny-t5", "tiny-flan-t5"]) func encoderOutputAndLogits(_ name: String) throws {
        let golden = try ParityGolden(name)
        let model = try Self.load(name, trainable: false)
        let (batch, _) = try Self.batch(golden)
        let encoded = model.encode(Graph(recording: false), batch)
        let (hiddenDifference, _) = maxDifference(encoded.values, try golden.floats("encoder_last_hidden_state"))
        #expect(hiddenDifference < 1e-4, "encoder output differs by \(hiddenDifference)")
        let logits = model.forward(Graph(recording: false), batch)
        let (difference, _) = maxDifference(logits.values, try golden.floats("logits"))
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }

    @Test(arguments: ["tiny-t5", "tiny-flan-t5"]) func lossEveryGradientAndTenAdamWSteps(_ name: String) throws {
        let golden = try ParityGolden(name)
        let model = try Self.load(name, trainable: true)
        let (batch, labels) = try Self.batch(golden)
        try golden.expectLossGradientsAndAdamW(model.namedParameters, floor: 1e-3) { graph in
            model.loss(graph, batch, targets: labels).loss
        }
    }

    @Test(arguments: ["tiny-t5", "tiny-flan-t5"]) func greedyGenerationThroughTheCache(_ name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("models/\(name)-generate.json")))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(golden["inputs"] as? [[String: Any]])
        let model = try Self.load(name, trainable: false)
        #expect(cases.count >= 3)
        for entry in cases {
            let ids = try #require(entry["input_ids"] as? [Int]), expected = try #require(entry["output_ids"] as? [Int])
            let cache = model.makeCache(capacity: ids.count + expected.count + 1)
            var logits = model.prefill(ids, cache: cache, adapterSlot: nil)
            var tokens: [Int] = []
            while tokens.count < 12 {
                let row = logits.values.suffix(model.config.vocabSize)
                let next = row.indices.max { row[$0] < row[$1] }! - row.startIndex
                tokens.append(next)
                if next == model.config.eosTokenId { break }
                logits = model.step([next], cache: cache, adapterSlot: nil)
            }
            // transformers' output starts with the decoder start token.
            #expect([model.config.decoderStartTokenId] + tokens == expected, "\(ids)")
        }
    }
}
