import Adapters
import Models
import TailorTestSupport
import Testing
import TrainingCore

@testable import Training

/// Training with a bf16 forward pass (`--compute-dtype bf16`): the loss within bf16's precision of
/// f32 mode's, gradients pointing the same way, and the forward's outputs really rounded.
@Suite struct BF16TrainingTests {
    @Test func bf16ForwardTrainsLikeF32() throws {
        let lora = LoRAConfig(r: 4, alpha: 8, targets: .names(["q_proj", "v_proj"]))
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-llama"), task: .causalLM, method: .lora, loraConfig: lora, maxLength: 16, seed: 2)
        for (_, tensor) in model.trainable {
            for index in 0..<tensor.count { tensor.data[index] = Float((index * 31) % 17) / 17 - 0.5 }
        }
        let (batch, targets) = model.encode(["a small test", "another line of text"].map { Example(text: $0) })
        func run(_ dtype: ComputeDType) -> (Float, [Float], Bool) {
            model.model.computeDType = dtype
            for (_, tensor) in model.trainable { tensor.releaseGrad() }
            let graph = Graph(recording: true, training: true, computeDType: dtype)
            let hidden = model.model.causalLMHidden(graph, batch)?.hidden
            let loss = model.loss(graph, batch, targets: targets).loss
            graph.backward(loss)
            let rounded = hidden?.values.allSatisfy { $0.bitPattern & 0xFFFF == 0 } ?? false
            return (loss.data[0], model.trainable.flatMap(\.1.gradValues), rounded)
        }
        let (f32Loss, f32Gradient, f32Rounded) = run(.f32)
        let (bf16Loss, bf16Gradient, bf16Rounded) = run(.bf16)
        #expect(bf16Rounded && !f32Rounded, "bf16 mode rounds the hidden states, f32 mode does not")
        #expect(abs(bf16Loss - f32Loss) <= 0.01 * abs(f32Loss))
        let dot = zip(f32Gradient, bf16Gradient).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        let norms = (f32Gradient.reduce(0) { $0 + Double($1 * $1) }, bf16Gradient.reduce(0) { $0 + Double($1 * $1) })
        #expect(dot / (norms.0 * norms.1).squareRoot() > 0.99, "gradients point the same way")
    }
}
