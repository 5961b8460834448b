import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import Tokenizers
import TrainingCore

@testable import Models

/// Tiny RoBERTa (RobertaForSequenceClassification) against transformers 5.24 / torch 2.15
/// (Scripts/reference/roberta_goldens.py): its tokenizer's singles and pairs, logits and hidden
/// states with right padding, every gradient, ten AdamW steps.
@Suite struct RobertaParityTests {
    static let folder = FixturePaths.path("models/tiny-roberta")

    static func load(trainable: Bool, dropout: Bool = true) throws -> Bert {
        let loaded = try ModelLoader.load(folder: folder, head: .sequenceClassification, trainable: trainable)
        let model = try #require(loaded as? Bert)
        #expect(model.family.name == "RoBERTa")
        if !dropout {
            model.config.hiddenDropout = 0
            model.config.attentionDropout = 0
            model.config.classifierDropout = 0
        }
        return model
    }

    @Test func theTokenizerWritesRobertasSinglesAndPairs() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("models/tiny-roberta-texts.json")))
        let texts = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let singles = texts["singles"] as? [String] ?? [], pairs = texts["pairs"] as? [[String]] ?? []
        let expected = texts["ids"] as? [[Int]] ?? []
        let tokenizer = try Tokenizer(path: Self.folder)
        let ids = singles.map { tokenizer.encode($0).ids } + pairs.map { tokenizer.encode($0[0], pair: $0[1]).ids }
        #expect(ids == expected)
        #expect(ids[2].filter { $0 == 2 }.count == 3, "a pair is <s> A </s></s> B </s>")
    }

    @Test func logitsAndHiddenStatesWithPadding() throws {
        let golden = try ParityGolden("tiny-roberta")
        let model = try Self.load(trainable: false)
        let batch = try golden.batch(tokenTypes: false)
        let hidden = model.encode(Graph(recording: false), batch)
        let (hiddenDifference, _) = maxDifference(hidden.values, try golden.floats("last_hidden_state"))
        #expect(hiddenDifference < 1e-4, "last hidden state differs by \(hiddenDifference)")
        let logits = model.classify(Graph(recording: false), batch)
        let (difference, _) = maxDifference(logits.values, try golden.floats("logits"))
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }

    @Test func everyParameterGradientAndTenAdamWSteps() throws {
        let golden = try ParityGolden("tiny-roberta")
        let model = try Self.load(trainable: true, dropout: false)
        let batch = try golden.batch(tokenTypes: false)
        let labels = try golden.integers("labels")
        try golden.expectLossGradientsAndAdamW(model.namedParameters) { graph in
            graph.crossEntropy(model.classify(graph, batch), targets: labels)
        }
    }
}
