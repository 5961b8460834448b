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
        let batch = try PEFTInteropTests.Golden(path: FixturePaths.path("models/tiny-gpt2-parity.safetensors")).batch()
        let logits = model.forward(Graph(recording: false), batch).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-gpt2-lora-logits.safetensors")).tensor("logits").floats()
        let difference = zip(logits, expected).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }
}
