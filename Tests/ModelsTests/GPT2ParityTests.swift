import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// Tiny GPT-2 (GPT2LMHeadModel) against transformers 5.24 / torch 2.15
/// (Scripts/reference/gpt2_goldens.py): logits and hidden states with right padding, the loss and
/// every gradient (Conv1D weights held transposed), ten AdamW steps, and greedy generation.
@Suite struct GPT2ParityTests {
    static func load(trainable: Bool, dropout: Bool = true) throws -> GPT2 {
        let loaded = try ModelLoader.load(folder: FixturePaths.path("models/tiny-gpt2"), head: .causalLM, trainable: trainable)
        let model = try #require(loaded as? GPT2)
        if !dropout {
            model.config.residualDropout = 0
            model.config.embeddingDropout = 0
            model.config.attentionDropout = 0
        }
        return model
    }

    static let conv1DSuffixes = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]

    /// A golden gradient in our layout: Conv1D weights are stored `[in, out]`, held `[out, in]`.
    static func reference(_ golden: ParityGolden, _ name: String) throws -> [Float] {
        let values = try golden.floats("grad." + name)
        guard conv1DSuffixes.contains(where: name.hasSuffix) else { return values }
        let shape = try golden.shape("grad." + name)
        let (inFeatures, out) = (shape[0], shape[1])
        return (0..<(out * inFeatures)).map { index in values[(index % inFeatures) * out + index / inFeatures] }
    }

    @Test func logitsAndHiddenStatesWithPadding() throws {
        let golden = try ParityGolden("tiny-gpt2")
        let model = try Self.load(trainable: false)
        let batch = try golden.batch(tokenTypes: false)
        let (hidden, _) = maxDifference(model.decode(Graph(recording: false), batch).values, try golden.floats("last_hidden_state"))
        #expect(hidden < 1e-4, "last hidden state differs by \(hidden)")
        let (logits, _) = maxDifference(model.logits(Graph(recording: false), batch).values, try golden.floats("logits"))
        #expect(logits < 1e-4, "logits differ by \(logits)")
    }

    @Test func everyParameterGradientAndTenAdamWSteps() throws {
        let golden = try ParityGolden("tiny-gpt2")
        let model = try Self.load(trainable: true, dropout: false)
        let batch = try golden.batch(tokenTypes: false)
        let labels = try golden.integers("labels")
        try golden.expectLossGradientsAndAdamW(model.namedParameters, reference: { try Self.reference(golden, $0) }) { graph in
            model.causalLMLoss(graph, batch, labels: labels)
        }
    }

    /// Greedy decoding through the cache (prefill, then one batched step per token) gives
    /// transformers' generate() tokens.
    @Test func greedyGenerationFollowsTransformers() throws {
        let golden = try ParityGolden("tiny-gpt2")
        let model = try Self.load(trainable: false)
        let prompt = try golden.integers("greedy_prompt"), expected = try golden.integers("greedy_tokens")
        let cache = model.makeCache(capacity: prompt.count + expected.count)
        var logits = model.prefill(prompt, cache: cache, adapterSlot: nil).values
        var tokens: [Int] = []
        for _ in expected {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            tokens.append(next)
            if tokens.count < expected.count { logits = model.step(batch: [next], caches: [cache]).values }
        }
        #expect(tokens == expected)
    }

    /// GPT2ForSequenceClassification: scores of the last real token, the loss and every gradient.
    @Test func theClassifierScoresTheLastRealToken() throws {
        let golden = try ParityGolden("tiny-gpt2-classifier")
        let loaded = try ModelLoader.load(
            folder: FixturePaths.path("models/tiny-gpt2-classifier"), head: .sequenceClassification, trainable: true)
        let model = try #require(loaded as? GPT2)
        model.config.residualDropout = 0
        model.config.embeddingDropout = 0
        let batch = try golden.batch(tokenTypes: false)
        let (logits, _) = maxDifference(model.classify(Graph(recording: false), batch).values, try golden.floats("logits"))
        #expect(logits < 1e-4, "logits differ by \(logits)")
        let graph = Graph(recording: true, training: true)
        let loss = graph.crossEntropy(model.classify(graph, batch), targets: try golden.integers("labels"))
        #expect(abs(loss.values[0] - (try golden.floats("loss"))[0]) < 1e-5)
        graph.backward(loss)
        for (name, parameter) in model.namedParameters {
            let (difference, scale) = maxDifference(parameter.gradValues, try Self.reference(golden, name))
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(name): gradient differs by \(difference) (max \(scale))")
        }
    }
}
