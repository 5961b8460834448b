import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

/// PEFT LoRA adapters trained for TOKEN_CLS and QUESTION_ANS (PEFT adds the head to
/// modules_to_save itself: classifier and score, qa_outputs) load with PEFT's logits
/// (Scripts/reference/task_goldens.py).
@Suite struct TaskAdapterTests {
    /// PeftModelForQuestionAnswering.forward does not hand `token_type_ids` on to the model, so
    /// PEFT's QA logits are those of segment 0 everywhere (transformers' own QA model, and tailor,
    /// use the segments).
    static func batch(_ golden: PEFTInteropTests.Golden, segments: Bool) throws -> TokenBatch {
        let shape = try golden.file.tensor("input_ids").shape
        let ids = try golden.ints("input_ids"), mask = try golden.ints("attention_mask")
        let types = segments ? try golden.ints("token_type_ids") : ids.map { _ in 0 }
        func rows<T>(_ values: [T]) -> [[T]] { (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) } }
        return TokenBatch(ids: rows(ids), mask: rows(mask.map { $0 != 0 }), tokenTypes: rows(types))
    }

    @Test(arguments: [("ner", ModelHead.tokenClassification), ("qa", .questionAnswering)])
    func peftsTaskAdapterGivesPEFTsLogits(task: String, head: ModelHead) throws {
        let model = try #require(try ModelLoader.load(folder: FixturePaths.path("models/tiny-bert-\(task)"), head: head) as? Bert)
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-bert-\(task)-lora"), into: model)
        let headName = head == .questionAnswering ? "qa_outputs" : "classifier"
        #expect(Set(lora.fullyTrained.map(\.0)) == ["base_model.model.\(headName).weight", "base_model.model.\(headName).bias"])
        #expect(lora.config.modulesToSave == head.peftHeadModules)
        let golden = try PEFTInteropTests.Golden(path: FixturePaths.path("models/tiny-bert-\(task)-parity.safetensors"))
        let logits = model.forward(Graph(recording: false), try Self.batch(golden, segments: head != .questionAnswering)).values
        let expected = try SafeTensorsFile(path: FixturePaths.path("models/tiny-bert-\(task)-lora-logits.safetensors"))
        let reference =
            head == .questionAnswering
            ? zip(try expected.tensor("start_logits").floats(), try expected.tensor("end_logits").floats()).flatMap { [$0, $1] }
            : try expected.tensor("logits").floats()
        let (difference, _) = PEFTInteropTests.maxDifference(logits, reference)
        #expect(difference < 1e-4, "logits differ by \(difference)")
    }
}
