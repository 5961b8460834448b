import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import Tokenizers
import TrainingCore

@testable import Models

/// The real all-MiniLM-L6-v2 against transformers (fixtures/minilm/goldens.json), when
/// `Scripts/fetch-minilm` has fetched it.
@Suite(.enabled(if: MiniLM.isAvailable, "all-MiniLM-L6-v2 not fetched: run Scripts/fetch-minilm to include these tests"))
struct MiniLMParityTests {
    nonisolated(unsafe) static let goldens =
        try! JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("minilm/goldens.json")))) as! [String: Any]

    @Test func tokenizerIds() throws {
        let tokenizer = try Tokenizer(path: MiniLM.folder)
        let lines = try String(contentsOfFile: FixturePaths.path("tokenizers/test-text.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .map { $0.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\r", with: "\r") }
        let expected = Self.goldens["tokenizer_ids"] as! [[Int]]
        #expect(lines.count == expected.count)
        for (line, ids) in zip(lines, expected) {
            #expect(tokenizer.encode(line).ids == ids, "\(line.debugDescription)")
        }
    }

    @Test func hiddenStatesAndMeanPooling() throws {
        let config = try BertConfig(ConfigReader(path: MiniLM.folder + "/config.json"))
        let model = try Bert(config: config, weights: WeightStore(Checkpoint.open(MiniLM.folder)), withClassifier: false, trainable: false)
        let ids = Self.goldens["input_ids"] as! [[Int]]
        let mask = (Self.goldens["attention_mask"] as! [[Int]]).map { $0.map { $0 != 0 } }
        let batch = TokenBatch(ids: ids, mask: mask)
        let graph = Graph(recording: false)
        let hidden = model.encode(graph, batch)
        let expected = (Self.goldens["last_hidden_state"] as! [[[Double]]]).flatMap { $0.flatMap { $0.map(Float.init) } }
        let (difference, _) = maxDifference(hidden.values, expected)
        #expect(difference < 1e-4, "last hidden state differs by \(difference)")
        let pooled = graph.meanPool(hidden, batch: batch.batch, length: batch.length, keep: batch.mask)
        let expectedPooled = (Self.goldens["mean_pooled"] as! [[Double]]).flatMap { $0.map(Float.init) }
        #expect(maxDifference(pooled.values, expectedPooled).difference < 1e-4)
    }
}
