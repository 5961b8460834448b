import Adapters
import Foundation
import TailorTestSupport
import Testing

@Suite struct AdapterDiffTests {
    @Test func anAdapterAgainstItselfIsIdentical() throws {
        let folder = FixturePaths.path("peft/tiny-llama-lora")
        let diff = try AdapterDiff(folder, folder)
        #expect(diff.configDifferences.isEmpty)
        #expect(diff.modules.count == 2 * 7, "all-linear on two layers")
        for module in diff.modules {
            #expect(module.normDifference == 0 && module.normA > 0 && module.normA == module.normB)
            #expect(abs(module.cosine - 1) < 1e-9 && abs(module.subspaceSimilarity - 1) < 1e-4, "\(module.name)")
        }
    }

    @Test func differentAdaptersDifferAndDisjointModulesCompareWithZero() throws {
        let diff = try AdapterDiff(FixturePaths.path("peft/tiny-bert-lora"), FixturePaths.path("peft/tailor-tiny-bert-lora"))
        #expect(
            diff.configDifferences.contains { $0.key == "target_modules" } && diff.configDifferences.contains { $0.key == "use_rslora" })
        let key = try #require(diff.modules.first { $0.name == "bert.encoder.layer.0.attention.self.key" })
        #expect(key.normA == 0 && key.normB > 0 && key.cosine == 0 && key.subspaceSimilarity == 0 && key.normDifference == key.normB)
        let query = try #require(diff.modules.first { $0.name == "bert.encoder.layer.0.attention.self.query" })
        #expect(query.cosine < 0.99 && (0...1).contains(query.subspaceSimilarity))
        #expect(diff.summary.first { $0.kind == "attention.self.key" }?.modules == 2)
        #expect { _ = try AdapterDiff(FixturePaths.path("peft/tiny-bert-lora"), FixturePaths.path("peft/tiny-bert-ia3")) } throws: {
            "\($0)".contains("IA3")
        }
    }
}
