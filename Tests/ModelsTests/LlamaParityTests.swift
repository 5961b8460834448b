import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// Tiny Llama (LlamaForCausalLM, grouped-query attention, RoPE, RMSNorm, SwiGLU) against
/// transformers 5.24 / torch 2.15.
@Suite struct LlamaParityTests {
    static func load(trainable: Bool) throws -> Llama {
        let folder = FixturePaths.path("tiny-llama")
        return try Llama(
            config: LlamaConfig(ConfigReader(path: folder + "/config.json")),
            weights: WeightStore(Checkpoint.open(folder)), head: .causalLM, trainable: trainable)
    }

    @Test func logitsWithPadding() throws {
        let golden = try ParityGolden("tiny-llama")
        let model = try Self.load(trainable: false)
        let logits = model.logits(Graph(recording: false), try golden.batch(tokenTypes: false))
        let (difference, _) = maxDifference(logits.values, try golden.floats("logits"))
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }

    @Test func everyParameterGradient() throws {
        let golden = try ParityGolden("tiny-llama")
        let model = try Self.load(trainable: true)
        let graph = Graph(recording: true, training: true)
        let loss = model.causalLMLoss(graph, try golden.batch(tokenTypes: false), labels: try golden.integers("labels"))
        #expect(abs(loss.values[0] - (try golden.floats("loss"))[0]) < 1e-5)
        graph.backward(loss)
        #expect(model.namedParameters.count == golden.file.tensorNames.filter { $0.hasPrefix("grad.") }.count)
        for (name, parameter) in model.namedParameters {
            let (difference, scale) = maxDifference(parameter.gradValues, try golden.floats("grad." + name))
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(name): gradient differs by \(difference) (max \(scale))")
        }
    }

    @Test func tenAdamWStepsFollowPyTorch() throws {
        let golden = try ParityGolden("tiny-llama")
        let model = try Self.load(trainable: true)
        let batch = try golden.batch(tokenTypes: false)
        let labels = try golden.integers("labels")
        let optimizer = AdamW(parameters: model.namedParameters.map(\.1), learningRate: 1e-3, weightDecay: 0.01)
        var losses: [Float] = []
        for _ in 0..<10 {
            optimizer.zeroGrad()
            let graph = Graph(recording: true, training: true)
            let loss = model.causalLMLoss(graph, batch, labels: labels)
            losses.append(loss.values[0])
            graph.backward(loss)
            optimizer.update()
        }
        let (difference, _) = maxDifference(losses, try golden.floats("adamw_losses"))
        #expect(difference < 1e-4, "losses \(losses) differ by \(difference)")
    }

    @Test func cachedGenerationStepsEqualTheFullForward() throws {
        let model = try Self.load(trainable: false)
        let ids = [5, 17, 99, 3, 250, 42, 7]
        let full = model.logits(Graph(recording: false), TokenBatch(ids: [ids])).values
        let cache = model.makeCache(capacity: 16)
        var stepped = model.step(Array(ids[0..<4]), cache: cache).values
        for id in ids[4...] { stepped += model.step([id], cache: cache).values }
        let (difference, _) = maxDifference(stepped, full)
        #expect(difference < 1e-4, "cached steps differ from the full forward by \(difference)")
    }
}
