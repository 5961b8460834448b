import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// Qwen2 (q/k/v biases), Mistral (sliding window shorter than the sequence) and
/// LlamaForSequenceClassification against transformers 5.24 (fixtures/models/tiny-*).
@Suite struct LlamaFamilyTests {
    /// A prompt's prefill gives the last row of a full step's logits, and leaves the same cache.
    @Test func prefillReturnsTheLastPositionsLogits() throws {
        let model = try ModelLoader.loadCausalLM(folder: FixturePaths.path("tiny-llama"))
        let ids = [4, 19, 250, 7, 33]
        let (full, last) = (model.makeCache(capacity: 8), model.makeCache(capacity: 8))
        let all = model.step(ids, cache: full, adapterSlot: nil)
        let prefilled = model.prefill(ids, cache: last, adapterSlot: nil)
        #expect(prefilled.shape == [1, model.vocabularySize])
        // One row or five go through different product kernels: equal up to summation order.
        let difference = zip(prefilled.values, all.values.suffix(model.vocabularySize)).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference < 1e-5)
        let next = (model.step([9], cache: full, adapterSlot: nil).values, model.step([9], cache: last, adapterSlot: nil).values)
        #expect((zip(next.0, next.1).map { abs($0 - $1) }.max() ?? .infinity) < 1e-5)
    }

    static func check(_ name: String, task: ModelHead) throws {
        let folder = FixturePaths.path("models/" + name)
        let golden = try SafeTensorsFile(path: folder + "/parity.safetensors")
        func ints(_ key: String) throws -> [Int] {
            try golden.tensor(key).data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
        }
        let shape = try golden.tensor("input_ids").shape
        let ids = try ints("input_ids"), mask = try ints("attention_mask").map { $0 != 0 }
        let batch = TokenBatch(
            ids: (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) },
            mask: (0..<shape[0]).map { Array(mask[($0 * shape[1])..<(($0 + 1) * shape[1])]) })
        guard let model = try ModelLoader.load(folder: folder, head: task) as? Llama else {
            Issue.record("\(name) should load as the Llama family")
            return
        }
        let logits = task == .causalLM ? model.logits(Graph(recording: false), batch) : model.classify(Graph(recording: false), batch)
        var expected = try golden.tensor("logits").floats()
        var ours = logits.values
        if task == .causalLM {
            // Compare real tokens only: transformers' logits at padded queries differ by mask convention.
            let vocab = model.config.vocabSize
            let keep = (0..<(batch.batch * batch.length)).filter { batch.mask[$0] }
            ours = keep.flatMap { Array(ours[($0 * vocab)..<(($0 + 1) * vocab)]) }
            expected = keep.flatMap { Array(expected[($0 * vocab)..<(($0 + 1) * vocab)]) }
        }
        let (difference, _) = maxDifference(ours, expected)
        #expect(difference < 1e-4, "\(name): logits differ by \(difference)")
    }

    @Test func qwen2WithQKVBiases() throws { try Self.check("tiny-qwen2", task: .causalLM) }
    @Test func mistralWithSlidingWindow() throws { try Self.check("tiny-mistral", task: .causalLM) }
    @Test func llamaSequenceClassificationOnTheLastRealToken() throws {
        try Self.check("tiny-llama-classifier", task: .sequenceClassification)
    }
}

extension LlamaFamilyTests {
    /// Decoding several sequences of different lengths as one batch (each row its own cache,
    /// position and mask) gives each row the logits it gets decoded alone, for the tiny Llama and
    /// for Mistral, whose sliding window (4) is shorter than the longer histories.
    @Test(arguments: ["tiny-llama", "models/tiny-mistral"])
    func batchedDecodingEqualsDecodingAlone(_ name: String) throws {
        guard let model = try ModelLoader.load(folder: FixturePaths.path(name), head: .causalLM) as? Llama else {
            Issue.record("\(name) should load as the Llama family")
            return
        }
        let prompts = [[5, 17, 99], [3, 250, 42, 7, 11, 8], [60], [9, 9, 31, 2, 14]]
        let nextTokens = [[4, 8], [12, 1], [77, 5], [30, 3]]
        let batchCaches = prompts.map { model.makeCache(capacity: $0.count + 4) }
        let aloneCaches = prompts.map { model.makeCache(capacity: $0.count + 4) }
        for (index, prompt) in prompts.enumerated() {
            _ = model.step(prompt, cache: batchCaches[index])
            _ = model.step(prompt, cache: aloneCaches[index])
        }
        let vocab = model.config.vocabSize
        for step in 0..<2 {
            let batched = model.step(batch: nextTokens.map { $0[step] }, caches: batchCaches).values
            for (row, cache) in aloneCaches.enumerated() {
                let alone = model.step([nextTokens[row][step]], cache: cache).values
                let (difference, _) = maxDifference(Array(batched[(row * vocab)..<((row + 1) * vocab)]), alone)
                #expect(difference < 1e-5, "\(name) step \(step) row \(row): \(difference)")
            }
        }
    }
}
