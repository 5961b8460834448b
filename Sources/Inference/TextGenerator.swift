import Adapters
import Models
import Quantization
import Tokenizers
import TrainingCore

/// How the next token is chosen.
public enum Sampling: Sendable {
    case greedy
    /// Softmax with temperature, restricted to the `topK` most likely tokens (0: all) and to the
    /// smallest set whose probability reaches `topP`, then drawn with a seeded generator.
    case sample(temperature: Float, topK: Int, topP: Float, seed: UInt64)
}

/// One prompt's continuation as `tailor generate --json` prints it (one object per line) and the
/// server returns it: the schema both share.
public struct GeneratedText: Codable, Sendable, Equatable {
    public var prompt: String
    /// The generated token ids, prompt excluded.
    public var tokens: [Int]
    /// The generated tokens decoded.
    public var text: String
    public var truncatedPromptTokens: Int
    /// The adapter or stack the input line named ("" for the base); nil (and no key) when the
    /// line named none.
    public var adapter: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case prompt, tokens, text, adapter
        case truncatedPromptTokens = "truncated_prompt_tokens"
    }

    public init(prompt: String, result: TextGenerator.Result, adapter: String? = nil) {
        self.prompt = prompt
        tokens = result.tokens
        text = result.text
        truncatedPromptTokens = result.truncatedPromptTokens
        self.adapter = adapter
    }
}

/// Generates text with a causal LM from a model folder, with a key/value cache.
public final class TextGenerator {
    public struct Result: Sendable {
        public var tokens: [Int]
        public var text: String
        /// Prompt tokens dropped from the left to fit the context (0 when the prompt fit).
        public var truncatedPromptTokens = 0
    }

    public let model: any CausalLanguageModel
    public let tokenizer: Tokenizer
    /// With switching on: the attached adapter stacks (the `adapters` given at init are slot 0).
    public let slots: AdapterSlots?

    /// Loads `folder` with the stack `adapters` on top (none: the base alone). With `switching`
    /// the stack becomes slot 0 of ``slots`` and more can be attached and chosen per prompt.
    /// `quantizeHead`: a 4-bit copy of the output head (faster decoding, a little less exact);
    /// `computeDType` nil: config.json's (bf16 for a bfloat16 checkpoint, as transformers runs it).
    public init(
        folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)] = [], switching: Bool = false,
        quantizeHead: QuantType? = nil, computeDType: ComputeDType? = nil
    ) throws {
        model = try ModelLoader.loadCausalLM(folder: folder, quantizeHead: quantizeHead, computeDType: computeDType)
        slots = try AdapterSlots.serve(adapters, on: model, switching: switching)
        tokenizer = try Tokenizer(path: folder)
    }

    /// Generates with a model already loaded (evaluation during training), without switching.
    public init(model: any CausalLanguageModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
        slots = nil
    }

    /// Continues `prompt` by up to `maxNewTokens` tokens, stopping at an end-of-sequence token;
    /// with switching on, `slot` picks the adapter stack (−1: the base; nil: the default slot).
    public func generate(
        _ prompt: String, maxNewTokens: Int, sampling: Sampling, slot: Int? = nil,
        maxLength: Int? = nil
    ) throws -> Result {
        try generate([prompt], maxNewTokens: maxNewTokens, sampling: sampling, slots: slot.map { [$0] }, maxLength: maxLength)[0]
    }

    /// Tokens a sequence may hold (prompt plus generated): the model's positions less its virtual
    /// tokens, or `maxLength` when smaller.
    public func contextLength(maxLength: Int? = nil) -> Int {
        let positions = model.maxPositions - (model.virtualTokens?.rows ?? 0)
        return min(positions, maxLength ?? positions)
    }

    /// Continues every prompt, decoding them together: each prompt is prefilled on its own, then
    /// every step feeds one token per unfinished prompt through the model as one batch (each row
    /// with its own cache and, with `slots`, its own adapter stack). Each prompt gets what it
    /// would alone: its own sampler seeded from `sampling`, its own end-of-sequence stop.
    ///
    /// A prompt longer than the context less `maxNewTokens` keeps its last tokens (the
    /// result says how many were dropped), so memory stays bounded by the context whatever the input.
    public func generate(
        _ prompts: [String], maxNewTokens: Int, sampling: Sampling, slots promptSlots: [Int]? = nil,
        maxLength: Int? = nil
    ) throws -> [Result] {
        let context = contextLength(maxLength: maxLength)
        guard maxNewTokens >= 0, maxNewTokens < context else {
            throw ModelError(
                file: tokenizer.path,
                "max_new_tokens \(maxNewTokens) leaves no room for a prompt in the \(context) positions "
                    + "a sequence may hold (max_position_embeddings \(model.maxPositions))")
        }
        precondition(
            promptSlots == nil || (slots != nil && promptSlots!.count == prompts.count),
            "per-prompt slots need switching and one slot per prompt")
        precondition(promptSlots?.allSatisfy { slots!.contains($0) } ?? true, "a prompt's slot is not attached")
        let promptSlots = promptSlots ?? slots.map { [Int](repeating: $0.defaultSlot, count: prompts.count) }
        let vocab = model.vocabularySize
        var caches: [KVCache] = [], last: [[Float]] = [], samplers: [RandomGenerator] = [], truncated: [Int] = []
        for (index, prompt) in prompts.enumerated() {
            let encoded = tokenizer.encode(prompt).ids
            let ids = Array(encoded.suffix(context - maxNewTokens))
            truncated.append(encoded.count - ids.count)
            guard !ids.isEmpty else { throw ModelError(file: tokenizer.path, "the prompt encodes to no tokens") }
            if let bad = ids.first(where: { $0 >= vocab }) {
                throw ModelError(file: tokenizer.path, "token id \(bad) is outside the model's vocabulary of \(vocab)")
            }
            let cache = model.makeCache(capacity: ids.count + maxNewTokens + (model.virtualTokens?.rows ?? 0))
            let logits = model.prefill(ids, cache: cache, adapterSlot: promptSlots?[index])
            caches.append(cache)
            last.append(Array(UnsafeBufferPointer(start: logits.data + (logits.rows - 1) * vocab, count: vocab)))
            if case .sample(_, _, _, let seed) = sampling {
                samplers.append(RandomGenerator(seed: seed))
            } else {
                samplers.append(RandomGenerator(seed: 0))
            }
        }
        var generated = [[Int]](repeating: [], count: prompts.count)
        var active = maxNewTokens > 0 ? Array(prompts.indices) : []
        while !active.isEmpty {
            active = active.filter { index in
                let next = Self.nextToken(last[index], sampling: sampling, rng: &samplers[index])
                guard !model.eosTokenIds.contains(next) else { return false }
                generated[index].append(next)
                return generated[index].count < maxNewTokens
            }
            guard !active.isEmpty else { break }
            let logits = model.step(
                batch: active.map { generated[$0].last! }, caches: active.map { caches[$0] },
                adapterSlots: promptSlots.map { s in active.map { s[$0] } })
            for (row, index) in active.enumerated() {
                last[index] = Array(UnsafeBufferPointer(start: logits.data + row * vocab, count: vocab))
            }
        }
        return generated.indices.map {
            Result(tokens: generated[$0], text: tokenizer.decode(generated[$0]), truncatedPromptTokens: truncated[$0])
        }
    }

    /// The token `sampling` picks from one position's `logits`, drawing from `rng` (a sequence's
    /// own generator, so sequences decoded together draw what each would alone).
    public static func nextToken(_ logits: [Float], sampling: Sampling, rng: inout RandomGenerator) -> Int {
        switch sampling {
        case .greedy:
            return logits.indices.max { logits[$0] < logits[$1] } ?? 0
        case let .sample(temperature, topK, topP, _):
            guard temperature > 0 else { return nextToken(logits, sampling: .greedy, rng: &rng) }
            // Neither top-k nor top-p: the whole softmax in index order, without sorting the
            // vocabulary (a sort per token per sequence was most of a server step at 128k tokens).
            if topK == 0 && topP >= 1 {
                let maxLogit = logits.max() ?? 0
                var total = 0.0
                var weights = [Double](repeating: 0, count: logits.count)
                for index in logits.indices {
                    weights[index] = Double((logits[index] - maxLogit) / temperature).exponential
                    total += weights[index]
                }
                var draw = Double(rng.nextFloat()) * total
                for index in logits.indices {
                    draw -= weights[index]
                    if draw < 0 { return index }
                }
                return logits.indices.last { weights[$0] > 0 } ?? 0
            }
            var order = logits.indices.sorted { logits[$0] > logits[$1] }
            if topK > 0 { order = Array(order.prefix(topK)) }
            let maxLogit = logits[order[0]]
            var weights = order.map { Double(((logits[$0] - maxLogit) / temperature)).exponential }
            let total = weights.reduce(0, +)
            weights = weights.map { $0 / total }
            if topP < 1 {
                var cumulative = 0.0
                var keep = 0
                for w in weights {
                    cumulative += w
                    keep += 1
                    if cumulative >= Double(topP) { break }
                }
                order = Array(order.prefix(keep))
                weights = Array(weights.prefix(keep))
                let kept = weights.reduce(0, +)
                weights = weights.map { $0 / kept }
            }
            var draw = Double(rng.nextFloat())
            for (index, w) in zip(order, weights) {
                draw -= w
                if draw < 0 { return index }
            }
            return order.last!
        }
    }
}

private extension Double {
    var exponential: Double { _exp(self) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
private func _exp(_ x: Double) -> Double { exp(x) }
