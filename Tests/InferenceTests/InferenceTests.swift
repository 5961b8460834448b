import Adapters
import Foundation
import Inference
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

/// The Inference module on its own (not through the CLI): generation's context limits,
/// classification batching and head checks, and deploy merges that refuse bad results.
@Suite struct InferenceTests {
    static let tinyLlama = FixturePaths.path("tiny-llama")
    static let tinyBert = FixturePaths.path("tiny-bert")

    static func member(_ fixture: String, weight: Float = 1) throws -> (member: AdapterStack.Member, files: AdapterFiles) {
        (AdapterStack.Member(reference: fixture, weight: weight), try AdapterFiles(folder: FixturePaths.path(fixture)))
    }

    @Test func aPromptLongerThanTheContextKeepsItsEnd() throws {
        let generator = try TextGenerator(folder: Self.tinyLlama)
        let context = generator.contextLength()
        #expect(context == 128, "the tiny Llama's max_position_embeddings")
        #expect(generator.contextLength(maxLength: 40) == 40)
        let prompt = Array(repeating: "the cat sat on the mat", count: 200).joined(separator: " ")
        let encoded = generator.tokenizer.encode(prompt).ids.count
        let result = try generator.generate(prompt, maxNewTokens: 8, sampling: .greedy, maxLength: 40)
        #expect(result.truncatedPromptTokens == encoded - (40 - 8))
        #expect(result.tokens.count <= 8)
        let short = try generator.generate("the cat", maxNewTokens: 8, sampling: .greedy)
        #expect(short.truncatedPromptTokens == 0)
    }

    /// A text longer than the model's position table is cut to fit, as transformers' pipeline
    /// does with truncation, for BERT (positions from 0) and RoBERTa (from pad_token_id + 1).
    @Test func aLongTextIsTruncatedToThePositionsTheClassifierHas() throws {
        for folder in ["tiny-bert", "models/tiny-roberta"] {
            let classifier = try TextClassifier(folder: FixturePaths.path(folder))
            let long = String(repeating: "the river ran past the old mill ", count: 30)
            let capacity = try #require(classifier.model.tokenCapacity)
            #expect(classifier.maxLength == capacity, "\(folder)")
            let cut = classifier.tokenizer.decode(Array(classifier.tokenizer.encode(long, maxLength: capacity).ids))
            let results = try classifier.classify([long, cut])
            #expect(results[0].logits == results[1].logits || zip(results[0].logits, results[1].logits).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    /// Sampling draws each token with its softmax probability, with and without top-k/top-p
    /// (the unrestricted case runs without sorting the vocabulary).
    @Test func samplingFollowsTheSoftmax() {
        let logits: [Float] = [0, Float(log(2.0)), Float(log(3.0)), -.infinity]
        for sampling in [Sampling.sample(temperature: 1, topK: 0, topP: 1, seed: 3), .sample(temperature: 1, topK: 3, topP: 1, seed: 3)] {
            var rng = RandomGenerator(seed: 3)
            var counts = [Int](repeating: 0, count: logits.count)
            for _ in 0..<60_000 { counts[TextGenerator.nextToken(logits, sampling: sampling, rng: &rng)] += 1 }
            #expect(counts[3] == 0, "a token of probability 0 is never drawn")
            for (index, probability) in [1.0 / 6, 2.0 / 6, 3.0 / 6].enumerated() {
                #expect(
                    abs(Double(counts[index]) / 60_000 - probability) < 0.01, "\(sampling): token \(index) drawn \(counts[index]) times")
            }
        }
        var rng = RandomGenerator(seed: 1)
        let nan = TextGenerator.nextToken([.nan, 1, 2], sampling: .sample(temperature: 1, topK: 0, topP: 1, seed: 1), rng: &rng)
        #expect((0..<3).contains(nan), "NaN logits still give a token id, never a trap")
    }

    @Test func noRoomForThePromptIsAnError() throws {
        let generator = try TextGenerator(folder: Self.tinyLlama)
        #expect { try generator.generate("hi", maxNewTokens: 128, sampling: .greedy) } throws: { "\($0)".contains("max_new_tokens 128") }
        #expect { try generator.generate("hi", maxNewTokens: 10, sampling: .greedy, maxLength: 10) } throws: {
            "\($0)".contains("10 positions")
        }
    }

    @Test func batchedGenerationEqualsOneByOne() throws {
        let generator = try TextGenerator(folder: Self.tinyLlama)
        let prompts = ["the cat", "a much longer prompt about dogs and cats", "hello"]
        let together = try generator.generate(prompts, maxNewTokens: 6, sampling: .greedy)
        for (prompt, result) in zip(prompts, together) {
            #expect(try generator.generate(prompt, maxNewTokens: 6, sampling: .greedy).tokens == result.tokens, "\(prompt)")
        }
    }

    @Test func batchedClassificationEqualsOneByOne() throws {
        let classifier = try TextClassifier(folder: Self.tinyBert, adapters: [Self.member("peft/tiny-bert-lora")])
        classifier.batchSize = 2
        let texts = ["good", "a much longer and rather more padded sentence", "bad", "fine"]
        let together = try classifier.classify(texts)
        for (text, result) in zip(texts, together) {
            let alone = try classifier.classify([text])[0]
            #expect(alone.label == result.label)
            #expect(zip(alone.logits, result.logits).allSatisfy { abs($0 - $1) < 1e-5 }, "\(text)")
        }
        #expect(classifier.untrainedWeights.isEmpty)
    }

    @Test func aModelWithoutAHeadReportsItsRandomWeights() throws {
        let folder = TemporaryFolder()
        let model = folder.file("embedding-model")
        try FileManager.default.copyItem(atPath: Self.tinyBert, toPath: model)
        let checkpoint = try Checkpoint.open(model + "/model.safetensors")
        let kept = try checkpoint.tensorNames.filter { !$0.hasPrefix("classifier") }.map { name in
            let view = try checkpoint.tensor(name)
            return TensorData(name: name, dtype: view.dtype, shape: view.shape, bytes: view.data)
        }
        try SafeTensorsWriter.write(kept, metadata: checkpoint.metadata, to: model + "/model.safetensors")
        #expect(try TextClassifier(folder: model).untrainedWeights == ["classifier.weight", "classifier.bias"])
        #expect(
            try TextClassifier(folder: model, adapters: [Self.member("peft/tiny-bert-lora")]).untrainedWeights.isEmpty,
            "an adapter that saves the head supplies it")
    }

    @Test func aDeployMergeThatOverflowsWritesNothing() throws {
        let folder = TemporaryFolder()
        let output = folder.file("deploy")
        #expect {
            try DeployMerge.write([Self.member("peft/tiny-bert-lora", weight: 1e38)], base: Self.tinyBert, output: output, dtype: "f32")
        } throws: { "\($0)".contains("overflow") }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "no scratch folder is left")
        let report = try DeployMerge.write([Self.member("peft/tiny-bert-lora")], base: Self.tinyBert, output: output, dtype: "f32")
        #expect(report.change.maxChange < 1e-4)
        #expect { try DeployMerge.write([Self.member("peft/tiny-bert-lora")], base: Self.tinyBert, output: output, dtype: "f32") } throws: {
            "\($0)".contains("exists")
        }
    }
}
