import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// BERT and RoBERTa with transformers' token-classification and question-answering heads
/// (Scripts/reference/task_goldens.py): logits on a right-padded batch, the task's loss (labels
/// on first sub-tokens; the span loss), every gradient, ten AdamW steps.
@Suite struct TaskHeadParityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var head: ModelHead
        var tokenTypes: Bool
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "tiny-bert-ner", head: .tokenClassification, tokenTypes: true),
        Case(name: "tiny-bert-qa", head: .questionAnswering, tokenTypes: true),
        Case(name: "tiny-roberta-ner", head: .tokenClassification, tokenTypes: false),
        Case(name: "tiny-roberta-qa", head: .questionAnswering, tokenTypes: false),
    ]

    static func load(_ test: Case, trainable: Bool) throws -> Bert {
        let loaded = try ModelLoader.load(folder: FixturePaths.path("models/" + test.name), head: test.head, trainable: trainable)
        let model = try #require(loaded as? Bert)
        #expect(model.newlyInitialized.isEmpty, "the checkpoint holds the head")
        if trainable { (model.config.hiddenDropout, model.config.attentionDropout, model.config.classifierDropout) = (0, 0, 0) }
        return model
    }

    /// The golden's logits as the head's `[B·T, outputs]`: QA's start and end interleaved.
    static func logits(_ golden: ParityGolden, head: ModelHead) throws -> [Float] {
        guard head == .questionAnswering else { return try golden.floats("logits") }
        let starts = try golden.floats("start_logits"), ends = try golden.floats("end_logits")
        return zip(starts, ends).flatMap { [$0, $1] }
    }

    static func targets(_ golden: ParityGolden, head: ModelHead) throws -> [Int] {
        head == .questionAnswering
            ? try golden.integers("start_positions") + golden.integers("end_positions") : try golden.integers("labels")
    }

    @Test(arguments: cases) func logitsWithPadding(_ test: Case) throws {
        let golden = try ParityGolden(test.name)
        let model = try Self.load(test, trainable: false)
        #expect(model.family.architecture(for: test.head) == (test.name.contains("bert-") ? "Bert" : "Roberta") + test.head.classSuffix!)
        let logits = model.forward(Graph(recording: false), try golden.batch(tokenTypes: test.tokenTypes))
        let (difference, _) = maxDifference(logits.values, try Self.logits(golden, head: test.head))
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }

    @Test(arguments: cases) func lossEveryGradientAndTenAdamWSteps(_ test: Case) throws {
        let golden = try ParityGolden(test.name)
        let model = try Self.load(test, trainable: true)
        let batch = try golden.batch(tokenTypes: test.tokenTypes)
        let targets = try Self.targets(golden, head: test.head)
        // The span loss is blind to a constant added to every position: the gradients of
        // qa_outputs.bias and the last LayerNorm bias are rounding noise around 0.
        try golden.expectLossGradientsAndAdamW(model.namedParameters, floor: 1e-3) { graph in
            model.loss(graph, batch, targets: targets).loss
        }
    }
}
