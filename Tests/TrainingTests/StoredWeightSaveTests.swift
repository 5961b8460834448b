import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Training

/// A whole-model save (BitFit) from a base whose frozen Linear weights stay in their stored form
/// (bf16 in place, 4-bit) writes every weight, widened to f32, and a config without the 4-bit
/// settings: the folder loads and computes what the trained model computes.
@Suite struct StoredWeightSaveTests {
    static let texts = ["what a lovely day", "terrible service", "great match", "awful food", "so kind", "never again"]

    @Test(arguments: ["bf16", "nf4"])
    func bitFitSavesEveryWeight(base: String) throws {
        let scratch = TemporaryFolder()
        let folder = scratch.file(base)
        if base == "bf16" {
            _ = try CheckpointConversion.convert(Checkpoint.open(FixturePaths.path("tiny-bert")), to: .bf16, output: folder)
        } else {
            try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-bert-nf4"), toPath: folder)
            try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-bert/tokenizer.json"), toPath: folder + "/tokenizer.json")
        }
        let labels = ["negative", "positive"]
        let model = try TaskModel(
            folder: folder, task: .classification, method: .bitfit, loraConfig: nil, labels: labels, maxLength: 16, seed: 1)
        let kept = model.model.linearModuleNames.compactMap { model.model.linear(named: $0) }.filter {
            if case .dense = $0.weight { return false }
            return true
        }
        #expect(!kept.isEmpty, "\(base): the base keeps Linear weights in their stored form")
        let data = Dataset(
            examples: Self.texts.enumerated().map { Example(text: $1, label: $0 % 2) }, labels: labels, path: "texts")
        var arguments = TrainingArguments()
        arguments.epochs = 1
        arguments.batchSize = 2
        arguments.learningRate = 1e-2
        let trainer = try Trainer(model: model, train: data, validation: nil, arguments: arguments, output: scratch.file("run"))
        try trainer.run { _ in }
        let names = Set(try Checkpoint.open(scratch.file("run")).tensorNames)
        for name in model.model.linearModuleNames {
            #expect(names.contains(name + ".weight"), "\(base): \(name).weight is saved")
        }
        let config = try ConfigReader(path: scratch.file("run/config.json"))
        #expect(config.values["quantization_config"] == nil)
        let reloaded = try ModelLoader.load(folder: scratch.file("run"), head: .sequenceClassification, labels: labels)
        let (batch, _) = model.encode(Array(data.examples.prefix(2)))
        let (trained, saved) = (
            model.model.forward(Graph(recording: false), batch).values, reloaded.forward(Graph(recording: false), batch).values
        )
        let difference = zip(trained, saved).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference < 1e-3, "\(base): the saved folder computes what the trained model does")
    }
}

/// A tied output head is the embedding table: counted once, as PEFT's
/// `print_trainable_parameters` does, whether the table stays bf16 or is f32.
@Suite struct TiedHeadCountTests {
    @Test(arguments: ["f32", "bf16"])
    func tiedHeadIsCountedOnce(dtype: String) throws {
        let scratch = TemporaryFolder()
        let folder = scratch.file("tied")
        let source = try Checkpoint.open(FixturePaths.path("tiny-llama"))
        _ = try CheckpointConversion.convert(source, to: dtype == "bf16" ? .bf16 : .f32, output: folder)
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as! [String: Any]
        config["tie_word_embeddings"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let lora = LoRAConfig(r: 2, alpha: 4, targets: .names(["q_proj"]))
        let model = try TaskModel(folder: folder, task: .causalLM, method: .lora, loraConfig: lora, maxLength: 8, seed: 1)
        #expect(model.model.tiedOutputModule == "lm_head")
        let expected = source.tensorInfos.filter { $0.name != "lm_head.weight" }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(model.parameterCounts.total - model.parameterCounts.trainable == expected)
    }
}
