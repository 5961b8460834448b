import Adapters
import Models
import TailorTestSupport
import Testing
import TrainingCore

@testable import Training

/// Gradient checkpointing and the chunked causal-LM loss change what training holds in memory,
/// never what it computes: the same loss and the same gradient of every trainable tensor, with
/// dropout on (BERT's hidden dropout and LoRA's), on both families.
@Suite struct MemorySavingTrainingTests {
    static let texts = ["what a lovely day", "terrible service, never again", "great match", "awful food"]

    static func model(_ fixture: String, task: Dataset.Task) throws -> TaskModel {
        let targets = fixture == "tiny-llama" ? ["q_proj", "v_proj", "down_proj"] : ["query", "value"]
        let lora = LoRAConfig(r: 4, alpha: 8, targets: .names(targets), dropout: 0.2)
        let model = try TaskModel(
            folder: FixturePaths.path(fixture), task: task, method: .lora, loraConfig: lora,
            labels: task == .classification ? ["negative", "positive"] : nil, maxLength: 16, seed: 3)
        // LoRA B starts at zero, which would hide a wrong gradient of A.
        for (_, tensor) in model.trainable {
            for index in 0..<tensor.count { tensor.data[index] = Float((index * 7919) % 13) / 13 - 0.5 }
        }
        return model
    }

    static func lossAndGradients(_ model: TaskModel, checkpointing: Bool) -> (Float, [[Float]]) {
        model.model.gradientCheckpointing = checkpointing
        model.reseedDropout(seed: 5, step: 1)
        for (_, tensor) in model.trainable { tensor.releaseGrad() }
        let examples = texts.enumerated().map { Example(text: $1, label: $0 % 2) }
        let (batch, targets) = model.encode(examples)
        let graph = Graph(recording: true, training: true)
        let loss = model.loss(graph, batch, targets: targets).loss
        graph.backward(loss)
        return (loss.data[0], model.trainable.map(\.1.gradValues))
    }

    @Test(arguments: [("tiny-llama", Dataset.Task.causalLM), ("tiny-bert", .classification), ("tiny-llama", .classification)])
    func checkpointingKeepsGradients(fixture: String, task: Dataset.Task) throws {
        let model = try Self.model(fixture, task: task)
        let (plainLoss, plain) = Self.lossAndGradients(model, checkpointing: false)
        let (loss, gradients) = Self.lossAndGradients(model, checkpointing: true)
        #expect(abs(plainLoss - loss) <= 1e-6 * max(1, abs(plainLoss)))
        #expect(gradients.count == plain.count && !plain.isEmpty)
        for (index, (a, b)) in zip(plain, gradients).enumerated() {
            let scale = max(a.map { abs($0) }.max() ?? 0, 1e-6)
            let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-5 * scale, "\(fixture) \(task): tensor \(model.trainable[index].0)")
            #expect(a.contains { $0 != 0 }, "\(model.trainable[index].0) has a gradient")
        }
    }

    /// The causal-LM loss through the head in chunks equals cross-entropy over the whole logits.
    @Test func chunkedCausalLossEqualsWholeLogits() throws {
        let model = try Self.model("tiny-llama", task: .causalLM)
        let examples = Self.texts.map { Example(text: $0, prompt: "say:") }
        let (batch, targets) = model.encode(examples)
        func run(whole: Bool) -> (Float, [[Float]]) {
            for (_, tensor) in model.trainable { tensor.releaseGrad() }
            model.reseedDropout(seed: 5, step: 1)
            let graph = Graph(recording: true, training: true)
            let loss: Tensor
            if whole {
                let n = batch.length
                var shifted = [Int](repeating: -100, count: targets.count)
                for row in 0..<batch.batch {
                    for t in 0..<(n - 1) { shifted[row * n + t] = targets[row * n + t + 1] }
                }
                loss = graph.crossEntropy(model.model.forward(graph, batch), targets: shifted)
            } else {
                loss = model.loss(graph, batch, targets: targets).loss
            }
            graph.backward(loss)
            return (loss.data[0], model.trainable.map(\.1.gradValues))
        }
        let (wholeLoss, wholeGradients) = run(whole: true)
        let (loss, gradients) = run(whole: false)
        #expect(abs(wholeLoss - loss) <= 1e-5 * abs(wholeLoss))
        for (a, b) in zip(wholeGradients, gradients) {
            let scale = max(a.map { abs($0) }.max() ?? 0, 1e-6)
            #expect((zip(a, b).map { abs($0 - $1) }.max() ?? 0) <= 1e-5 * scale)
        }
    }
}
