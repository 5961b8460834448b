import Foundation
import TailorTestSupport
import Testing

@testable import Models

/// config.json files that trapped building a model (fixtures/fuzz-regressions/model-config, see
/// Fuzz/README.md) are refused by the config readers with a ModelError naming the field.
@Suite struct ModelsFuzzRegressionTests {
    static func path(_ name: String) -> String { FixturePaths.path("fuzz-regressions/model-config/" + name) }

    /// num_hidden_layers -2 trapped `0..<config.layers` in Bert.init (found by fuzzing).
    @Test func negativeLayerCountIsRefused() throws {
        #expect { _ = try BertConfig(ConfigReader(path: Self.path("negative-layer-count.json"))) } throws: { error in
            error is ModelError && "\(error)".contains("\"num_hidden_layers\" must be at least 0, not -2")
        }
        var llama = try ConfigReader(path: FixturePaths.path("tiny-llama/config.json")).values
        for (key, value) in [
            ("num_hidden_layers", -1), ("hidden_size", 0), ("intermediate_size", -5), ("head_dim", 0),
            ("max_position_embeddings", -1), ("vocab_size", 0),
        ] {
            var edited = llama
            edited[key] = value
            #expect(throws: ModelError.self, "\(key) \(value)") { _ = try LlamaConfig(ConfigReader(path: "config.json", values: edited)) }
        }
        llama["num_hidden_layers"] = 0
        #expect(try LlamaConfig(ConfigReader(path: "config.json", values: llama)).layers == 0)
    }

    /// A sliding window of Int.min overflowed the attention mask's window arithmetic on the first
    /// forward pass (found by review).
    @Test func nonPositiveSlidingWindowIsRefused() {
        #expect { _ = try LlamaConfig(ConfigReader(path: Self.path("sliding-window-int-min.json"))) } throws: { error in
            error is ModelError && "\(error)".contains("\"sliding_window\" must be at least 1")
        }
    }
}
