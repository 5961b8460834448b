import Diagnostics
import Foundation
import Models
import Quantization
import TrainingCore

#if canImport(Glibc)
import Glibc
#endif

/// What decoding costs on a model folder, as users of llama.cpp and vLLM measure it: load time,
/// time to the first token, prefill and decode rates, the weight bytes each decoding step reads,
/// and peak memory. Prompts are random token ids (no tokenizer); decoding is greedy and runs the
/// full number of tokens (end-of-sequence ids are not special here).
public enum GenerationBenchmark {
    public struct Result: Codable, Sendable {
        public var loadSeconds: Double
        /// From the start of loading to the first generated token of the first sequence.
        public var firstTokenSeconds: Double
        public var prefillTokensPerSecond: Double
        /// Generated tokens per second over all sequences of the batch, after the first.
        public var decodeTokensPerSecond: Double
        /// Weight bytes one decoding step reads: every Linear weight as held, the output head's too.
        public var bytesPerToken: Int
        public var peakMemoryBytes: Int
        public var promptTokens: Int
        public var newTokens: Int
        public var batch: Int
        public var computeDType: ComputeDType

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case loadSeconds = "load_s", firstTokenSeconds = "first_token_s"
            case prefillTokensPerSecond = "prefill_tokens_per_s", decodeTokensPerSecond = "decode_tokens_per_s"
            case bytesPerToken = "bytes_per_token", peakMemoryBytes = "peak_memory_bytes"
            case computeDType = "compute_dtype"
            case promptTokens = "prompt_tokens", newTokens = "new_tokens", batch
        }
    }

    public static func run(
        folder: String, promptTokens: Int, newTokens: Int, batch: Int, quantizeHead: QuantType? = nil,
        computeDType: ComputeDType? = nil, seed: UInt64 = 7
    ) throws -> Result {
        precondition(promptTokens > 0 && newTokens > 0 && batch > 0, "positive sizes")
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds(since time: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - time) / 1e9 }
        let model = try ModelLoader.loadCausalLM(folder: folder, quantizeHead: quantizeHead, computeDType: computeDType)
        let loadSeconds = seconds(since: start)
        guard promptTokens + newTokens <= model.maxPositions else {
            throw ModelError(
                file: folder, "\(promptTokens) prompt + \(newTokens) new tokens exceed the model's \(model.maxPositions) positions")
        }
        var rng = RandomGenerator(seed: seed)
        let vocabulary = model.vocabularySize
        func greedy(_ logits: Tensor, row: Int) -> Int {
            let values = UnsafeBufferPointer(start: logits.data + row * vocabulary, count: vocabulary)
            return values.indices.max { values[$0] < values[$1] } ?? 0
        }
        var caches: [KVCache] = [], next: [Int] = []
        var firstTokenSeconds = 0.0
        let prefillStart = DispatchTime.now().uptimeNanoseconds
        for index in 0..<batch {
            let prompt = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(vocabulary)) }
            let cache = model.makeCache(capacity: promptTokens + newTokens)
            let logits = model.prefill(prompt, cache: cache, adapterSlot: nil)
            caches.append(cache)
            next.append(greedy(logits, row: logits.rows - 1))
            if index == 0 { firstTokenSeconds = seconds(since: start) }
        }
        let prefillSeconds = seconds(since: prefillStart)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        for _ in 1..<newTokens {
            let logits = model.step(batch: next, caches: caches, adapterSlots: nil)
            next = (0..<batch).map { greedy(logits, row: $0) }
        }
        let decodeSeconds = seconds(since: decodeStart)
        let bytes = model.linearModuleNames.reduce(0) { $0 + (model.linear(named: $1)?.weight.storedBytes ?? 0) }
        return Result(
            loadSeconds: loadSeconds, firstTokenSeconds: firstTokenSeconds,
            prefillTokensPerSecond: Double(batch * promptTokens) / max(prefillSeconds, 1e-9),
            decodeTokensPerSecond: newTokens > 1 ? Double(batch * (newTokens - 1)) / max(decodeSeconds, 1e-9) : 0,
            bytesPerToken: bytes, peakMemoryBytes: peakResidentBytes(), promptTokens: promptTokens, newTokens: newTokens,
            batch: batch, computeDType: model.computeDType)
    }
}
