import Adapters
import Foundation
import Models
import TailorTestSupport
import Testing
import TrainingCore

@Suite struct LoRAExtractionTests {
    /// At full rank the extracted update is the weight difference; at rank 1 it is the best
    /// rank-1 part, with the error of the singular values left out.
    @Test func extractionRecoversTheDifference() throws {
        let base = try PEFTInteropTests.bert()
        let tuned = try PEFTInteropTests.bert()
        _ = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/tiny-bert-lora"), into: tuned)
        // The "fine-tuned" model: the LoRA update folded into plain weights.
        for name in tuned.linearModuleNames {
            let layer = try #require(tuned.linear(named: name))
            let (weight, bias) = try BaseMerge.fold(layer)
            tuned.setLinear(
                LinearLayer(
                    weight: .dense(Tensor(weight, shape: [layer.outFeatures, layer.inFeatures])),
                    bias: bias.map { Tensor($0, shape: [layer.outFeatures]) }), named: name)
        }
        let full = try LoRAExtraction.extract(base: base, tuned: tuned, rank: 64, taskType: "SEQ_CLS", baseModel: nil)
        // The fixture's saved classifier equals the base's: no difference, nothing extracted.
        #expect(
            Set(full.relativeErrors.map(\.module)) == Set(tuned.linearModuleNames.filter { $0.contains("query") || $0.contains("value") }))
        #expect(full.relativeErrors.allSatisfy { $0.error < 1e-5 }, "\(full.relativeErrors)")
        let fresh = try PEFTInteropTests.bert()
        let low = try LoRAExtraction.extract(base: fresh, tuned: tuned, rank: 1, taskType: "SEQ_CLS", baseModel: nil)
        #expect(low.relativeErrors.contains { $0.error > 1e-3 }, "rank 1 cannot hold a rank-4 update")
        #expect(low.adapter.layers.allSatisfy { $0.1.a.shape[0] == 1 })
    }
}
