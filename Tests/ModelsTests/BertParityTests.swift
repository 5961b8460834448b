import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// Tiny BERT (BertForSequenceClassification) against transformers 5.24 / torch 2.15.
@Suite struct BertParityTests {
    static func load(trainable: Bool, dropout: Bool = true) throws -> Bert {
        let folder = FixturePaths.path("tiny-bert")
        var config = try BertConfig(ConfigReader(path: folder + "/config.json"))
        if !dropout {
            config.hiddenDropout = 0
            config.attentionDropout = 0
            config.classifierDropout = 0
        }
        return try Bert(config: config, weights: WeightStore(Checkpoint.open(folder)), withClassifier: true, trainable: trainable)
    }

    @Test func logitsAndHiddenStatesWithPadding() throws {
        let golden = try ParityGolden("tiny-bert")
        let model = try Self.load(trainable: false)
        let batch = try golden.batch(tokenTypes: true)
        let graph = Graph(recording: false)
        let hidden = model.encode(graph, batch)
        let (hiddenDifference, _) = maxDifference(hidden.values, try golden.floats("last_hidden_state"))
        #expect(hiddenDifference < 1e-4, "last hidden state differs by \(hiddenDifference)")
        let logits = model.classify(Graph(recording: false), batch)
        let (difference, _) = maxDifference(logits.values, try golden.floats("logits"))
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }

    @Test func everyParameterGradient() throws {
        let golden = try ParityGolden("tiny-bert")
        let model = try Self.load(trainable: true, dropout: false)
        let batch = try golden.batch(tokenTypes: true)
        let graph = Graph(recording: true, training: true)
        let loss = graph.crossEntropy(model.classify(graph, batch), targets: try golden.integers("labels"))
        #expect(abs(loss.values[0] - (try golden.floats("loss"))[0]) < 1e-5)
        graph.backward(loss)
        #expect(model.namedParameters.count == golden.file.tensorNames.filter { $0.hasPrefix("grad.") }.count)
        for (name, parameter) in model.namedParameters {
            let reference = try golden.floats("grad." + name)
            let (difference, scale) = maxDifference(parameter.gradValues, reference)
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(name): gradient differs by \(difference) (max \(scale))")
        }
    }

    @Test func tenAdamWStepsFollowPyTorch() throws {
        let golden = try ParityGolden("tiny-bert")
        let model = try Self.load(trainable: true, dropout: false)
        let batch = try golden.batch(tokenTypes: true)
        let labels = try golden.integers("labels")
        let optimizer = AdamW(parameters: model.namedParameters.map(\.1), learningRate: 1e-3, weightDecay: 0.01)
        var losses: [Float] = []
        for _ in 0..<10 {
            optimizer.zeroGrad()
            let graph = Graph(recording: true, training: true)
            let loss = graph.crossEntropy(model.classify(graph, batch), targets: labels)
            losses.append(loss.values[0])
            graph.backward(loss)
            optimizer.update()
        }
        let (difference, _) = maxDifference(losses, try golden.floats("adamw_losses"))
        #expect(difference < 1e-4, "losses \(losses) differ by \(difference)")
    }
}
