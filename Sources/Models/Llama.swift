import Foundation
import Tokenizers
import TrainingCore

/// Hyper-parameters of the Llama family from config.json: `llama`, `mistral` and `qwen2` differ
/// only in config (biases on q/k/v for Qwen2, a sliding window for Mistral).
public struct LlamaConfig: Sendable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var llama3Scaling: Llama3RopeScaling?
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var outputProjectionBias: Bool
    public var mlpBias: Bool
    public var slidingWindow: Int?
    public var maxPositions: Int
    public var labels: [String]
    public var padTokenId: Int?
    public var eosTokenIds: [Int]

    public init(_ config: ConfigReader) throws {
        modelType = try config.string("model_type")
        vocabSize = try config.int("vocab_size", atLeast: 1)
        hiddenSize = try config.int("hidden_size", atLeast: 1)
        intermediateSize = try config.int("intermediate_size", atLeast: 1)
        layers = try config.int("num_hidden_layers", atLeast: 0)
        heads = try config.int("num_attention_heads")
        guard heads > 0 else { throw config.fail("num_attention_heads", "must be positive, not \(heads)") }
        kvHeads = try config.int("num_key_value_heads", default: heads)
        guard kvHeads > 0 else { throw config.fail("num_key_value_heads", "must be positive, not \(kvHeads)") }
        headDim = try config.int("head_dim", default: hiddenSize / heads, atLeast: 1)
        rmsNormEps = Float(try config.double("rms_norm_eps", default: 1e-6))
        tieWordEmbeddings = try config.bool("tie_word_embeddings", default: false)
        maxPositions = try config.int("max_position_embeddings", default: 4096, atLeast: 1)
        labels = try config.labels() ?? ["LABEL_0", "LABEL_1"]
        padTokenId = config.values["pad_token_id"] is NSNull ? nil : try? config.int("pad_token_id")
        if let eos = config.values["eos_token_id"] as? [Any] {
            eosTokenIds = eos.compactMap { ($0 as? NSNumber)?.intValue }
        } else {
            eosTokenIds = (try? config.int("eos_token_id")).map { [$0] } ?? []
        }
        let activation = try config.string("hidden_act", default: "silu")
        guard activation == "silu" else { throw config.fail("hidden_act", "is \(activation); only \"silu\" is supported") }
        if modelType == "qwen2" {
            attentionBias = true
            outputProjectionBias = false
        } else {
            attentionBias = try config.bool("attention_bias", default: false)
            outputProjectionBias = attentionBias
        }
        mlpBias = try config.bool("mlp_bias", default: false)
        if modelType == "mistral" || modelType == "qwen2" {
            let useSliding = try modelType == "mistral" || config.bool("use_sliding_window", default: false)
            slidingWindow = useSliding ? (try? config.int("sliding_window")) : nil
            if let window = slidingWindow, window < 1 { throw config.fail("sliding_window", "must be at least 1, not \(window)") }
        }
        // transformers 5 groups RoPE settings in rope_parameters; older files use rope_theta and
        // rope_scaling at the top level.
        let rope = try config.object("rope_parameters") ?? config.object("rope_scaling")
        ropeTheta = try rope?.double("rope_theta", default: nil as Double?) ?? config.double("rope_theta", default: 10000)
        let ropeType = try rope.map { try $0.string("rope_type", default: (try? $0.string("type")) ?? "default") } ?? "default"
        switch ropeType {
        case "default":
            llama3Scaling = nil
        case "llama3":
            let r = rope!
            llama3Scaling = Llama3RopeScaling(
                factor: try r.double("factor"), lowFrequencyFactor: try r.double("low_freq_factor"),
                highFrequencyFactor: try r.double("high_freq_factor"),
                originalMaxPositions: try r.double("original_max_position_embeddings"))
        default:
            throw config.fail("rope_type", "is \(ropeType); supported: default, llama3")
        }
        guard heads % kvHeads == 0 else {
            throw config.fail("num_key_value_heads", "(\(kvHeads)) does not divide num_attention_heads \(heads)")
        }
    }
}

/// One decoder layer's weights (`model.layers.N.…`).
public struct LlamaLayer {
    public var inputNorm, postAttentionNorm: Tensor
    public var qProj, kProj, vProj, oProj, gateProj, upProj, downProj: LinearLayer
}

/// `LlamaForCausalLM` and `LlamaForSequenceClassification` (the `score` head).
public final class Llama {
    public let config: LlamaConfig
    /// The input embeddings: bf16 in place when the folder stores them so and they are frozen.
    public let embedTokens: LinearLayer.Weight
    public var layers: [LlamaLayer]
    public let finalNorm: Tensor
    /// The output head: `lm_head` (or the tied embedding table) for causal LM.
    public var lmHead: LinearLayer?
    /// Recompute each decoder layer in backward instead of keeping its activations.
    public var gradientCheckpointing = false
    public var computeDType = ComputeDType.f32
    /// `score` `[labels, hidden]` for sequence classification.
    public var score: LinearLayer?
    /// Weights the checkpoint lacked that were initialised at random (a missing `score` head).
    public private(set) var newlyInitialized: [String] = []
    public let rotary: RotaryEmbedding
    /// Prompt tuning's virtual token embeddings `[n, C]`, put before every sequence.
    public var virtualTokens: Tensor?
    /// Prefix tuning's keys and values `[n, layers·2·Hkv·D]` (layer l's keys at columns
    /// 2l·Hkv·D, its values next), without RoPE, as if n tokens were already cached: the sequence's
    /// positions start at n.
    public var prefix: Tensor?
    public private(set) var namedParameters: [(String, Tensor)] = []

    public let head: ModelHead

    public init(config: LlamaConfig, weights: WeightStore, head: ModelHead, trainable: Bool) throws {
        self.config = config
        self.head = head
        let (h, d) = (config.hiddenSize, config.headDim)
        var parameters: [(String, Tensor)] = []
        var rng = RandomGenerator(seed: 42)
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try weights.tensor(name, shape: shape, trainable: trainable)
            parameters.append((name, t))
            return t
        }
        func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool) throws -> LinearLayer {
            let layer = try weights.linear(name, out: out, in: inFeatures, hasBias: bias, trainable: trainable)
            if case .dense(let w) = layer.weight { parameters.append((name + ".weight", w)) }
            if let b = layer.bias { parameters.append((name + ".bias", b)) }
            return layer
        }
        embedTokens = try weights.table("model.embed_tokens.weight", shape: [config.vocabSize, h], trainable: trainable)
        if case .dense(let table) = embedTokens { parameters.append(("model.embed_tokens.weight", table)) }
        layers = []
        for i in 0..<config.layers {
            let p = "model.layers.\(i)."
            let inputNorm = try tensor(p + "input_layernorm.weight", [h])
            let q = try linear(p + "self_attn.q_proj", out: config.heads * d, in: h, bias: config.attentionBias)
            let k = try linear(p + "self_attn.k_proj", out: config.kvHeads * d, in: h, bias: config.attentionBias)
            let v = try linear(p + "self_attn.v_proj", out: config.kvHeads * d, in: h, bias: config.attentionBias)
            let o = try linear(p + "self_attn.o_proj", out: h, in: config.heads * d, bias: config.outputProjectionBias)
            let postNorm = try tensor(p + "post_attention_layernorm.weight", [h])
            let gate = try linear(p + "mlp.gate_proj", out: config.intermediateSize, in: h, bias: config.mlpBias)
            let up = try linear(p + "mlp.up_proj", out: config.intermediateSize, in: h, bias: config.mlpBias)
            let down = try linear(p + "mlp.down_proj", out: h, in: config.intermediateSize, bias: config.mlpBias)
            layers.append(
                LlamaLayer(
                    inputNorm: inputNorm, postAttentionNorm: postNorm, qProj: q, kProj: k, vProj: v, oProj: o,
                    gateProj: gate, upProj: up, downProj: down))
        }
        finalNorm = try tensor("model.norm.weight", [h])
        switch head {
        case .causalLM:
            if config.tieWordEmbeddings || !weights.contains("lm_head.weight") {
                guard config.tieWordEmbeddings else {
                    throw ModelError(file: weights.checkpoint.path, "missing tensor lm_head.weight (and tie_word_embeddings is false)")
                }
                lmHead = LinearLayer(weight: embedTokens, bias: nil)
            } else {
                lmHead = try linear("lm_head", out: config.vocabSize, in: h, bias: false)
            }
        case .sequenceClassification, .encoder, .tokenClassification, .questionAnswering, .seq2seqLM:
            if weights.contains("score.weight") {
                score = try linear("score", out: config.labels.count, in: h, bias: false)
            } else {
                let w = Tensor(
                    (0..<(config.labels.count * h)).map { _ in rng.nextNormal() * 0.02 }, shape: [config.labels.count, h],
                    requiresGrad: trainable, name: "score.weight")
                parameters.append(("score.weight", w))
                newlyInitialized = ["score.weight"]
                score = LinearLayer(weight: .dense(w), bias: nil)
            }
        }
        rotary = RotaryEmbedding(headDim: d, theta: config.ropeTheta, llama3Scaling: config.llama3Scaling)
        namedParameters = parameters
    }

    /// Final hidden states `[B·T, C]` for a whole batch (training, scoring): positions 0…T−1
    /// (n…n+T−1 after a prefix), causal attention that skips padded keys.
    public func decode(_ graph: Graph, _ input: TokenBatch) -> Tensor {
        var batch = input
        var x = graph.embedding(input.ids, shape: [input.batch * input.length], embedTokens)
        if let virtualTokens {
            x = graph.prependRows(virtualTokens, to: x, batch: input.batch, length: input.length)
            batch = input.withVirtualPrefix(virtualTokens.rows)
        }
        let (b, t) = (batch.batch, batch.length)
        let n = prefix?.rows ?? 0
        let (cos, sin) = rotary.tables(positions: Array(n..<(n + t)))
        let keyMask = n == 0 ? batch.mask : batch.withVirtualPrefix(n).mask
        let mask = AttentionMask(
            keyIsToken: keyMask.allSatisfy { $0 } ? nil : keyMask, causal: true, queryOffset: n,
            slidingWindow: config.slidingWindow)
        let kvStride = config.kvHeads * config.headDim
        let prefix = prefix
        for (index, layer) in layers.enumerated() {
            let run = { [unowned self] (graph: Graph, x: Tensor) -> Tensor in
                block(graph, x, layer, batch: b, length: t, cos: cos, sin: sin) { q, k, v in
                    guard let prefix else { return attend(graph, q, k, v, batch: b, queryLength: t, keyLength: t, mask: mask) }
                    let keys = graph.prependRows(
                        prefix, columns: (2 * index * kvStride)..<((2 * index + 1) * kvStride),
                        to: k, batch: b, length: t)
                    let values = graph.prependRows(
                        prefix, columns: ((2 * index + 1) * kvStride)..<((2 * index + 2) * kvStride),
                        to: v, batch: b, length: t)
                    return attend(graph, q, keys, values, batch: b, queryLength: t, keyLength: n + t, mask: mask)
                }
            }
            x = gradientCheckpointing ? graph.checkpoint(x, run) : run(graph, x)
        }
        return graph.rmsNorm(x, weight: finalNorm, eps: config.rmsNormEps)
    }

    /// One decoder block. `attend` gets this step's rotated queries and keys and its values and
    /// returns the attention output: over the sequence itself (training), after a prefix, or over
    /// cached history (generation, one cache per row when decoding a batch).
    func block(
        _ graph: Graph, _ x: Tensor, _ layer: LlamaLayer, batch b: Int, length t: Int, cos: [Float], sin: [Float],
        attend: (_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor
    ) -> Tensor {
        let d = config.headDim
        let normed = graph.rmsNorm(x, weight: layer.inputNorm, eps: config.rmsNormEps)
        let q = graph.rope(graph.linear(normed, layer.qProj), batch: b, length: t, heads: config.heads, headDim: d, cos: cos, sin: sin)
        let k = graph.rope(graph.linear(normed, layer.kProj), batch: b, length: t, heads: config.kvHeads, headDim: d, cos: cos, sin: sin)
        let v = graph.linear(normed, layer.vProj)
        let attended = attend(q, k, v)
        let h = graph.add(x, graph.linear(attended, layer.oProj))
        let normed2 = graph.rmsNorm(h, weight: layer.postAttentionNorm, eps: config.rmsNormEps)
        let mlp = graph.linear(graph.siluMul(graph.linear(normed2, layer.gateProj), graph.linear(normed2, layer.upProj)), layer.downProj)
        return graph.add(h, mlp)
    }

    func attend(
        _ graph: Graph, _ q: Tensor, _ keys: Tensor, _ values: Tensor, batch: Int, queryLength: Int, keyLength: Int,
        mask: AttentionMask
    ) -> Tensor {
        graph.attention(
            q: q, k: keys, v: values, batch: batch, queryLength: queryLength, keyLength: keyLength, heads: config.heads,
            kvHeads: config.kvHeads, headDim: config.headDim, mask: mask, scale: 1 / Float(config.headDim).squareRoot())
    }

    /// Causal-LM logits `[B·T, V]`.
    public func logits(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        return graph.linear(decode(graph, batch), lmHead)
    }

    public func causalLMHidden(_ graph: Graph, _ batch: TokenBatch) -> (hidden: Tensor, head: LinearLayer)? {
        guard head == .causalLM, let lmHead else { return nil }
        return (decode(graph, batch), lmHead)
    }

    /// Sequence-classification logits `[B, labels]` from the last real token of each row.
    public func classify(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let score else { preconditionFailure("loaded without a score head") }
        let hidden = decode(graph, batch)
        let n = virtualTokens?.rows ?? 0
        let last = batch.lastTokenIndices.enumerated().map { row, index in index + (row + 1) * n }
        return graph.linear(graph.selectRows(hidden, last), score)
    }

    /// A cache for generating up to `capacity` tokens of one sequence; prefix tuning's keys and
    /// values are its first entries (room for them is added).
    public func makeCache(capacity: Int) -> KVCache {
        let kvStride = config.kvHeads * config.headDim
        let n = prefix?.rows ?? 0
        let cache = KVCache(layers: layers.count, capacity: capacity + n, kvStride: kvStride)
        if let prefix {
            for index in layers.indices {
                for row in 0..<n {
                    let source = prefix.data + row * prefix.columns + 2 * index * kvStride
                    cache.store(layer: index, at: row, keys: source, values: source + kvStride, count: 1)
                }
            }
            cache.advance(by: n)
        }
        return cache
    }

    /// Logits `[T, V]` for `ids` following what `cache` holds; appends their keys and values.
    public func step(_ ids: [Int], cache: KVCache, adapterSlot: Int? = nil) -> Tensor {
        step(ids, cache: cache, adapterSlot: adapterSlot, lastOnly: false)
    }

    public func prefill(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor {
        step(ids, cache: cache, adapterSlot: adapterSlot, lastOnly: true)
    }

    func step(_ ids: [Int], cache: KVCache, adapterSlot: Int?, lastOnly: Bool) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        let graph = Graph(recording: false, adapterSlots: adapterSlot.map { [$0] } ?? [], computeDType: computeDType)
        let start = cache.length
        var x = graph.embedding(ids, shape: [ids.count], embedTokens)
        if start == 0, let virtualTokens { x = graph.prependRows(virtualTokens, to: x, batch: 1, length: ids.count) }
        let t = x.rows
        precondition(start + t <= cache.capacity, "KV cache full")
        let (cos, sin) = rotary.tables(positions: Array(start..<(start + t)))
        let mask = AttentionMask(causal: true, queryOffset: start, slidingWindow: config.slidingWindow)
        for (index, layer) in layers.enumerated() {
            x = block(graph, x, layer, batch: 1, length: t, cos: cos, sin: sin) { q, k, v in
                cache.store(layer: index, at: start, keys: k.data, values: v.data, count: t)
                return attend(graph, q, cache.keys[index], cache.values[index], batch: 1, queryLength: t, keyLength: start + t, mask: mask)
            }
        }
        cache.advance(by: t)
        // Sampling reads the last position only; the head over every prompt token was a fifth of
        // Llama-3.2-1B's prefill.
        if lastOnly, t > 1 { x = graph.selectRows(x, [t - 1]) }
        return graph.linear(graph.rmsNorm(x, weight: finalNorm, eps: config.rmsNormEps), lmHead)
    }

    /// Next-token logits `[B, V]` for one new token per sequence, each sequence with its own cache
    /// at its own length: the Linear layers run on all B rows at once (one GEMM each, where the
    /// time goes), rotary positions and attention per row against that row's cache.
    public func step(batch tokens: [Int], caches: [KVCache], adapterSlots: [Int]? = nil) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        precondition(tokens.count == caches.count && caches.allSatisfy { $0.length < $0.capacity }, "one token per cache, with room for it")
        let graph = Graph(recording: false, adapterSlots: adapterSlots ?? [], computeDType: computeDType)
        let rows = tokens.count
        var x = graph.embedding(tokens, shape: [rows], embedTokens)
        // Row j is at its own position: rope over a "sequence" of the B rows with their positions.
        let (cos, sin) = rotary.tables(positions: caches.map(\.length))
        let kvStride = config.kvHeads * config.headDim, qStride = config.heads * config.headDim
        for (index, layer) in layers.enumerated() {
            x = block(graph, x, layer, batch: 1, length: rows, cos: cos, sin: sin) { q, k, v in
                let out = Tensor(uninitialized: [rows, qStride])
                for (row, cache) in caches.enumerated() {
                    let at = cache.length
                    cache.store(layer: index, at: at, keys: k.data + row * kvStride, values: v.data + row * kvStride, count: 1)
                    let query = Tensor(uninitialized: [1, qStride])
                    query.data.update(from: q.data + row * qStride, count: qStride)
                    let mask = AttentionMask(causal: true, queryOffset: at, slidingWindow: config.slidingWindow)
                    let attended = attend(
                        graph, query, cache.keys[index], cache.values[index], batch: 1, queryLength: 1, keyLength: at + 1,
                        mask: mask)
                    (out.data + row * qStride).update(from: attended.data, count: qStride)
                }
                return out
            }
        }
        caches.forEach { $0.advance(by: 1) }
        return graph.linear(graph.rmsNorm(x, weight: finalNorm, eps: config.rmsNormEps), lmHead)
    }
}

extension Llama: AdaptableModel {
    static let layerLinears = LayerLinears<LlamaLayer>(fields: [
        ("self_attn.q_proj", \.qProj), ("self_attn.k_proj", \.kProj), ("self_attn.v_proj", \.vProj), ("self_attn.o_proj", \.oProj),
        ("mlp.gate_proj", \.gateProj), ("mlp.up_proj", \.upProj), ("mlp.down_proj", \.downProj),
    ])

    public var linearModuleNames: [String] {
        layers.indices.flatMap { Self.layerLinears.names(prefix: "model.layers.\($0).") }
            + (lmHead == nil ? [] : ["lm_head"]) + (score == nil ? [] : ["score"])
    }

    public var outputModuleName: String? { lmHead != nil ? "lm_head" : nil }
    public var classificationHeadName: String? { score == nil ? nil : "score" }

    public func linear(named name: String) -> LinearLayer? {
        if name == "lm_head" { return lmHead }
        if name == "score" { return score }
        return Self.layerLinears.linear(named: name, in: layers, prefix: "model.layers.")
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == "lm_head" {
            lmHead = layer
            return
        }
        if name == "score" {
            score = layer
            return
        }
        Self.layerLinears.setLinear(layer, named: name, in: &layers, prefix: "model.layers.")
    }

    // RMSNorm has no bias: every bias of the family (Qwen2's q/k/v, attention_bias, mlp_bias) is a Linear's.
    public var normBiasNames: [String] { [] }
    public func normBias(named name: String) -> Tensor? { nil }
    public func setNormBias(_ bias: Tensor, named name: String) {}
}

extension Llama: CausalLanguageModel {
    public var family: any ModelFamily { LlamaFamily(modelType: config.modelType) }
    public var vocabularySize: Int { config.vocabSize }
    public var labels: [String] { config.labels }
    public var maxPositions: Int { config.maxPositions }
    // Rotary positions have no table to run off: longer inputs are the user's call.
    public var tokenCapacity: Int? { nil }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var replacedHeadLabels: Int? { nil }
    public var tiedOutputModule: String? { config.tieWordEmbeddings && lmHead != nil ? "lm_head" : nil }

    public var storedTensors: [(name: String, weight: any StoredLinearWeight)] {
        if case .half(let table) = embedTokens { return [("model.embed_tokens.weight", table)] }
        return []
    }

    public func padId(using tokenizer: Tokenizer) -> Int {
        config.padTokenId ?? tokenizer.configuredPadId ?? config.eosTokenIds.first ?? 0
    }

    public var promptGeometry: PromptGeometry {
        PromptGeometry(
            hiddenSize: config.hiddenSize, layers: config.layers, heads: config.heads,
            keyValueWidth: config.kvHeads * config.headDim, keyValueHeads: config.kvHeads, maxPositions: config.maxPositions)
    }

    // No dropout: attention_dropout is 0 in every released Llama, Mistral and Qwen2 config.
    public func reseedDropout(seed: UInt64, step: Int) {}

    public func forward(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        switch head {
        case .causalLM: logits(graph, batch)
        case .sequenceClassification: classify(graph, batch)
        case .encoder, .tokenClassification, .questionAnswering, .seq2seqLM: decode(graph, batch)
        }
    }
}

/// Llama and the architectures that differ from it only in config: Mistral (a sliding window),
/// Qwen2 (biases on q, k, v). One value per `model_type`, for the class names transformers uses.
public struct LlamaFamily: ModelFamily {
    /// transformers' class-name prefix: "Llama", "Mistral", "Qwen2".
    public let name: String

    public init(modelType: String) {
        name = ["mistral": "Mistral", "qwen2": "Qwen2"][modelType] ?? "Llama"
    }

    public var heads: [ModelHead] { [.causalLM, .sequenceClassification] }
    public var defaultHead: ModelHead { .causalLM }
    public var defaultLoRATargets: [String] { ["q_proj", "v_proj"] }
    public var defaultIA3Targets: (targets: [String], feedforward: [String]) { (["k_proj", "v_proj", "down_proj"], ["down_proj"]) }
    public var bottleneckTargets: [String] { ["o_proj", "down_proj"] }

    public func architecture(for head: ModelHead) -> String {
        name + (head == .sequenceClassification ? "ForSequenceClassification" : "ForCausalLM")
    }

    public func load(
        _ config: ConfigReader, weights: WeightStore, head: ModelHead, trainable: Bool,
        labels: [String]?
    ) throws -> any TransformerModel {
        var llamaConfig = try LlamaConfig(config)
        if let labels { llamaConfig.labels = labels }
        return try Llama(config: llamaConfig, weights: weights, head: head, trainable: trainable)
    }
}
