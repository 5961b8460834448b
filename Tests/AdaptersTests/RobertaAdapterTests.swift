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
        let batch = try PEFTInteropTests.Golden(path: FixturePaths.path("models/tiny-roberta-parity.safetensors")).batch()
        let logits = model.classify(Graph(recording: false), batch).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-roberta-lora-logits.safetensors")).tensor("logits").floats()
        let difference = zip(logits, expected).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }
}
