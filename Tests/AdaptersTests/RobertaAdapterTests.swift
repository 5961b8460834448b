import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

/// A LoRA adapter PEFT trained on RoBERTa with `modules_to_save=["classifier"]` (the head is a
/// module of two Linear layers, saved as classifier.dense and classifier.out_proj) loads with
/// PEFT's logits (Scripts/reference/roberta_goldens.py).
@Suite struct RobertaAdapterTests {
    @Test func peftsRobertaLoRAWithItsSavedHeadGivesPEFTsLogits() throws {
        let folder = FixturePaths.path("models/tiny-roberta")
        let model = try #require(try ModelLoader.load(folder: folder, head: .sequenceClassification) as? Bert)
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-roberta-lora"), into: model)
        #expect(lora.layers.count == 4)
        #expect(
            Set(lora.fullyTrained.map(\.0)) == [
                "base_model.model.classifier.dense.weight", "base_model.model.classifier.dense.bias",
                "base_model.model.classifier.out_proj.weight", "base_model.model.classifier.out_proj.bias",
            ])
        let parity = try SafeTensorsFile(path: FixturePaths.path("models/tiny-roberta-parity.safetensors"))
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
        let logits = model.classify(Graph(recording: false), batch).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-roberta-lora-logits.safetensors")).tensor("logits").floats()
        let difference = zip(logits, expected).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }
}
