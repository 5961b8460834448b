import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

/// A LoRA adapter PEFT made on GPT-2's Conv1D layers (c_attn, c_proj, c_fc; fan_in_fan_out)
/// loads with PEFT's logits (Scripts/reference/gpt2_goldens.py).
@Suite struct GPT2AdapterTests {
    @Test func peftsConv1DLoRAGivesPEFTsLogits() throws {
        let model = try ModelLoader.load(folder: FixturePaths.path("models/tiny-gpt2"), head: .causalLM)
        let lora = try #require(try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-gpt2-lora"), into: model) as? LoRAModel)
        #expect(lora.layers.count == 8, "c_attn, attn.c_proj, c_fc and mlp.c_proj in each of 2 blocks")
        #expect(lora.config.fanInFanOut)
        let parity = try SafeTensorsFile(path: FixturePaths.path("models/tiny-gpt2-parity.safetensors"))
        let shape = try parity.tensor("input_ids").shape
        func integers(_ name: String) throws -> [Int] {
            try parity.tensor(name).data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
        }
        let ids = try integers("input_ids"), mask = try integers("attention_mask")
        let rows = 0..<shape[0]
        let batch = TokenBatch(
            ids: rows.map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) },
            mask: rows.map { row in mask[(row * shape[1])..<((row + 1) * shape[1])].map { $0 != 0 } },
            tokenTypes: rows.map { _ in [Int](repeating: 0, count: shape[1]) })
        let logits = model.forward(Graph(recording: false), batch).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-gpt2-lora-logits.safetensors")).tensor("logits").floats()
        let difference = zip(logits, expected).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }
}
