import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Training

/// Every adapter method: a few training steps lower the loss, and the saved folder, loaded onto a
/// fresh base, gives the trained model's logits (exactly in f32, to bf16 rounding in bf16).
@Suite struct MethodRoundTripTests {
    @Test(arguments: [TaskModel.Method.lora, .dora, .ia3, .prompt, .prefix, .bottleneck], [DType.f32, .bf16])
    func trainSaveReload(method: TaskModel.Method, dtype: DType) throws {
        var data = try Dataset.load(FixturePaths.path("sentiment/train.jsonl"), task: .classification)
        data.examples = Array(data.examples.prefix(32))
        let lora = LoRAConfig(r: 4, alpha: 8, targets: .names(["query", "value"]), modulesToSave: ["classifier"])
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-bert"), task: .classification, method: method, loraConfig: lora,
            labels: data.labels, maxLength: 24, seed: 1, bottleneckSize: 8, virtualTokens: 3)
        model.saveDType = dtype
        var arguments = TrainingArguments()
        arguments.epochs = 3
        arguments.batchSize = 8
        // Virtual tokens start far from the tiny model's embeddings: a gentler rate for them.
        arguments.learningRate = method == .prompt ? 1e-3 : 1e-2
        arguments.loggingSteps = 1
        let folder = TemporaryFolder()
        let trainer = try Trainer(model: model, train: data, validation: nil, arguments: arguments, output: folder.path)
        let before = Evaluation.evaluate(model, on: data, batchSize: 8)["loss"]!
        try trainer.run { _ in }
        let after = Evaluation.evaluate(model, on: data, batchSize: 8)["loss"]!
        if method == .prompt {
            // The random tiny model's pooled output barely depends on the input, so virtual tokens
            // cannot lower its loss much in a few steps; PEFTMethodInteropTests checks their gradients.
            #expect(after != before)
        } else {
            #expect(after < before, "\(method): training-set loss \(before) → \(after)")
        }

        let (batch, _) = model.encode(Array(data.examples.prefix(4)))
        guard let trained = model.model as? Bert else {
            Issue.record("BERT expected")
            return
        }
        let expected = trained.classify(Graph(recording: false), batch).values
        let fresh = try Bert(
            config: trained.config, weights: WeightStore(Checkpoint.open(FixturePaths.path("tiny-bert"))),
            withClassifier: true, trainable: false)
        let adapter = try PEFTAdapterFolder.loadAny(folder.path, into: fresh)
        #expect(
            adapter.peftType
                == ["ia3": "IA3", "bottleneck": "BOTTLENECK", "prompt": "PROMPT_TUNING", "prefix": "PREFIX_TUNING"][
                    method.rawValue, default: "LORA"])
        let reloaded = fresh.classify(Graph(recording: false), batch).values
        let difference = zip(reloaded, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(difference <= (dtype == .f32 ? 1e-6 : 2e-2), "\(method) \(dtype): reloaded logits differ by \(difference)")
        #expect(try SafeTensorsFile(path: folder.file("adapter_model.safetensors")).tensors.allSatisfy { $0.dtype == dtype })
    }
}
