import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Export

/// PEFT → mlx-lm → PEFT: mlx-lm's layout (lora_a [in, r], lora_b [r, out], one rank and scale)
/// and back lose nothing: the reimported adapter gives the original's logits, per-module ranks
/// and scales (rank_pattern, alpha_pattern, rsLoRA) included.
@Suite struct MLXAdapterTests {
    static func logits(_ adapter: String) throws -> [Float] {
        let model = try ModelLoader.load(folder: FixturePaths.path("tiny-llama"), head: .causalLM)
        _ = try PEFTAdapterFolder.loadAny(adapter, into: model)
        return model.forward(Graph(recording: false), TokenBatch(ids: [[0, 5, 17, 42, 99, 7], [3, 9, 27, 81, 11, 2]])).values
    }

    @Test(arguments: ["tiny-llama-lora", "tiny-llama-dora"]) func roundTripKeepsTheLogits(_ fixture: String) throws {
        let folder = TemporaryFolder()
        let source = FixturePaths.path("peft/" + fixture)
        let exported = try MLXAdapter.export(AdapterFiles(folder: source), layers: 2, output: folder.file("mlx"))
        #expect(exported.numLayers == 2 && exported.fineTuneType == (fixture.contains("dora") ? "dora" : "lora"))
        let weights = try SafeTensorsFile(path: folder.file("mlx/adapters.safetensors"))
        let a = try weights.tensor("model.layers.0.self_attn.q_proj.lora_a"),
            b = try weights.tensor("model.layers.0.self_attn.q_proj.lora_b")
        #expect(a.shape == [64, exported.rank] && b.shape == [exported.rank, 64])
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("mlx/adapter_config.json"))))
                as? [String: Any])
        let parameters = try #require(config["lora_parameters"] as? [String: Any])
        #expect((parameters["keys"] as? [String])?.contains("self_attn.q_proj") == true && parameters["rank"] as? Int == exported.rank)
        let back = try MLXAdapter.importAdapter(folder.file("mlx"), output: folder.file("peft"), baseModel: "fixtures/tiny-llama")
        #expect(back.modules == exported.modules)
        let (original, roundTripped) = (try Self.logits(source), try Self.logits(folder.file("peft")))
        let difference = zip(original, roundTripped).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-5, "\(fixture): logits differ by \(difference)")
    }

    @Test func whatMLXCannotHoldIsRefused() throws {
        let folder = TemporaryFolder()
        #expect {
            _ = try MLXAdapter.export(AdapterFiles(folder: FixturePaths.path("peft/tiny-bert-lora")), layers: 2, output: folder.file("a"))
        } throws: {
            "\($0)".contains("modules_to_save") || "\($0)".contains("decoder layer")
        }
        // Only some layers: mlx-lm adapts the last num_layers.
        #expect {
            _ = try MLXAdapter.export(AdapterFiles(folder: FixturePaths.path("peft/tiny-llama-lora")), layers: 4, output: folder.file("b"))
        } throws: {
            "\($0)".contains("last num_layers")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("b")))
    }
}
