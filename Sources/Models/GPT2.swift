import Foundation
import Tokenizers
import TrainingCore

/// GPT-2's hyper-parameters from config.json (`model_type` "gpt2").
public struct GPT2Config: Sendable {
    public var vocabSize, hiddenSize, layers, heads, innerSize, maxPositions: Int
    public var layerNormEps: Float
    public var residualDropout, embeddingDropout, attentionDropout: Float
    /// Scores divided by √d (`scale_attn_weights`) and also by the layer's index + 1
    /// (`scale_attn_by_inverse_layer_idx`).
    public var scaleByHeadDim, scaleByInverseLayer: Bool
    public var labels: [String]
    public var padTokenId: Int?
    public var eosTokenIds: [Int]

    public init(_ config: ConfigReader) throws {
        vocabSize = try config.int("vocab_size", atLeast: 1)
        hiddenSize = try config.int("n_embd", atLeast: 1)
        layers = try config.int("n_layer", atLeast: 0)
        heads = try config.int("n_head", atLeast: 1)
        innerSize = try config.int("n_inner", default: 4 * hiddenSize, atLeast: 1)
        maxPositions = try config.int("n_positions", atLeast: 1)
        layerNormEps = Float(try config.double("layer_norm_epsilon", default: 1e-5))
        residualDropout = Float(try config.double("resid_pdrop", default: 0.1))
        embeddingDropout = Float(try config.double("embd_pdrop", default: 0.1))
        attentionDropout = Float(try config.double("attn_pdrop", default: 0.1))
        scaleByHeadDim = try config.bool("scale_attn_weights", default: true)
        scaleByInverseLayer = try config.bool("scale_attn_by_inverse_layer_idx", default: false)
        labels = try config.labels() ?? ["LABEL_0", "LABEL_1"]
        padTokenId = config.values["pad_token_id"] is NSNull ? nil : try? config.int("pad_token_id")
        eosTokenIds = (try? config.int("eos_token_id")).map { [$0] } ?? []
        let activation = try config.string("activation_function", default: "gelu_new")
        guard activation == "gelu_new" else { throw config.fail("activation_function", "is \(activation); only \"gelu_new\" is supported") }
        guard hiddenSize % heads == 0 else { throw config.fail("n_head", "(\(heads)) does not divide n_embd \(hiddenSize)") }
        if try !config.bool("tie_word_embeddings", default: true) {
            throw config.fail("tie_word_embeddings", "is false; GPT-2's lm_head is the token embedding table")
        }
    }
}

/// One block's weights (`transformer.h.N.…`); the Conv1D layers are held in Linear layout.
public struct GPT2Layer {
    public var attention, attentionProjection, feedForward, feedForwardProjection: LinearLayer
    public var norm1Weight, norm1Bias, norm2Weight, norm2Bias: Tensor
}

/// `GPT2LMHeadModel` and `GPT2ForSequenceClassification` (the `score` head on the last token).
public final class GPT2 {
    public var config: GPT2Config
    public let head: ModelHead
    public let tokenEmbeddings, positionEmbeddings: Tensor
    public var layers: [GPT2Layer]
    public let finalNormWeight: Tensor
    /// Replaceable like the blocks' norm biases: an adapter trained with bias="all" brings its own.
    public var finalNormBias: Tensor
    public var lmHead: LinearLayer?
    public var score: LinearLayer?
    public var rng = RandomGenerator(seed: 0)
    public var gradientCheckpointing = false
    public var computeDType = ComputeDType.f32
    public var virtualTokens: Tensor?
    public var prefix: Tensor?
    public private(set) var newlyInitialized: [String] = []
    public private(set) var namedParameters: [(String, Tensor)] = []

    public init(config: GPT2Config, weights: WeightStore, head: ModelHead, trainable: Bool) throws {
        self.config = config
        self.head = head
        let h = config.hiddenSize
        var parameters: [(String, Tensor)] = []
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try weights.tensor(name, shape: shape, trainable: trainable)
            parameters.append((name, t))
            return t
        }
        func conv1D(_ name: String, out: Int, in inFeatures: Int) throws -> LinearLayer {
            let layer = try weights.conv1D(name, out: out, in: inFeatures, trainable: trainable)
            if case .dense(let w) = layer.weight { parameters.append((name + ".weight", w)) }
            if let b = layer.bias { parameters.append((name + ".bias", b)) }
            return layer
        }
        tokenEmbeddings = try tensor("transformer.wte.weight", [config.vocabSize, h])
        positionEmbeddings = try tensor("transformer.wpe.weight", [config.maxPositions, h])
        layers = try (0..<config.layers).map { i in
            let p = "transformer.h.\(i)."
            return GPT2Layer(
                attention: try conv1D(p + "attn.c_attn", out: 3 * h, in: h),
                attentionProjection: try conv1D(p + "attn.c_proj", out: h, in: h),
                feedForward: try conv1D(p + "mlp.c_fc", out: config.innerSize, in: h),
                feedForwardProjection: try conv1D(p + "mlp.c_proj", out: h, in: config.innerSize),
                norm1Weight: try tensor(p + "ln_1.weight", [h]), norm1Bias: try tensor(p + "ln_1.bias", [h]),
                norm2Weight: try tensor(p + "ln_2.weight", [h]), norm2Bias: try tensor(p + "ln_2.bias", [h]))
        }
        finalNormWeight = try tensor("transformer.ln_f.weight", [h])
        finalNormBias = try tensor("transformer.ln_f.bias", [h])
        switch head {
        case .causalLM:
            lmHead = LinearLayer(weight: .dense(tokenEmbeddings), bias: nil)
        case .sequenceClassification, .encoder, .tokenClassification, .questionAnswering, .seq2seqLM:
            if weights.contains("score.weight") {
                let w = try weights.tensor("score.weight", shape: [config.labels.count, h], trainable: trainable)
                parameters.append(("score.weight", w))
                score = LinearLayer(weight: .dense(w), bias: nil)
            } else {
                var initializer = RandomGenerator(seed: 42)
                let w = Tensor(
                    (0..<(config.labels.count * h)).map { _ in initializer.nextNormal() * 0.02 }, shape: [config.labels.count, h],
                    requiresGrad: trainable, name: "score.weight")
                parameters.append(("score.weight", w))
                newlyInitialized = ["score.weight"]
                score = LinearLayer(weight: .dense(w), bias: nil)
            }
        }
        namedParameters = parameters
    }

    var headDim: Int { config.hiddenSize / config.heads }

    /// The attention scale of layer `index`.
    func scale(layer index: Int) -> Float {
        (config.scaleByHeadDim ? 1 / Float(headDim).squareRoot() : 1) / (config.scaleByInverseLayer ? Float(index + 1) : 1)
    }

    /// One pre-LN block; `attend` gets the step's q, k, v and returns the attention output.
    func block(
        _ graph: Graph, _ x: Tensor, _ layer: GPT2Layer, attend: (_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor
    ) -> Tensor {
        let h = config.hiddenSize
        let normed = graph.layerNorm(x, weight: layer.norm1Weight, bias: layer.norm1Bias, eps: config.layerNormEps)
        let qkv = graph.linear(normed, layer.attention)
        let attended = attend(graph.columns(qkv, 0..<h), graph.columns(qkv, h..<(2 * h)), graph.columns(qkv, (2 * h)..<(3 * h)))
        let residual = graph.add(x, graph.dropout(graph.linear(attended, layer.attentionProjection), p: config.residualDropout, rng: &rng))
        let normed2 = graph.layerNorm(residual, weight: layer.norm2Weight, bias: layer.norm2Bias, eps: config.layerNormEps)
        let inner = graph.geluTanh(graph.linear(normed2, layer.feedForward))
        return graph.add(residual, graph.dropout(graph.linear(inner, layer.feedForwardProjection), p: config.residualDropout, rng: &rng))
    }

    /// Final hidden states `[B·T, C]`: positions 0…T−1, causal attention that skips padded keys.
    public func decode(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        let (b, t) = (batch.batch, batch.length)
        var x = graph.embedding(batch.ids, shape: [b * t], tokenEmbeddings)
        x = graph.add(x, graph.embedding((0..<(b * t)).map { $0 % t }, shape: [b * t], positionEmbeddings))
        x = graph.dropout(x, p: config.embeddingDropout, rng: &rng)
        let mask = AttentionMask(keyIsToken: batch.mask.allSatisfy { $0 } ? nil : batch.mask, causal: true)
        for (index, layer) in layers.enumerated() {
            let run = { [unowned self] (graph: Graph, x: Tensor) -> Tensor in
                block(graph, x, layer) { q, k, v in
                    graph.attention(
                        q: q, k: k, v: v, batch: b, queryLength: t, keyLength: t, heads: config.heads, kvHeads: config.heads,
                        headDim: headDim, mask: mask, scale: scale(layer: index))
                }
            }
            x = gradientCheckpointing ? graph.checkpoint(x, run) : run(graph, x)
        }
        return graph.layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: config.layerNormEps)
    }

    public func logits(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        return graph.linear(decode(graph, batch), lmHead)
    }

    /// Scores of the last real token of each row (transformers: the last non-pad token).
    public func classify(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let score else { preconditionFailure("loaded without a score head") }
        return graph.linear(graph.selectRows(decode(graph, batch), batch.lastTokenIndices), score)
    }

    public func causalLMHidden(_ graph: Graph, _ batch: TokenBatch) -> (hidden: Tensor, head: LinearLayer)? {
        guard head == .causalLM, let lmHead else { return nil }
        return (decode(graph, batch), lmHead)
    }
}

extension GPT2 {
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: layers.count, capacity: capacity, kvStride: config.hiddenSize)
    }

    public func step(_ ids: [Int], cache: KVCache, adapterSlot: Int? = nil) -> Tensor {
        step(ids, cache: cache, adapterSlot: adapterSlot, lastOnly: false)
    }

    public func prefill(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor {
        step(ids, cache: cache, adapterSlot: adapterSlot, lastOnly: true)
    }

    func step(_ ids: [Int], cache: KVCache, adapterSlot: Int?, lastOnly: Bool) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        let graph = Graph(recording: false, adapterSlots: adapterSlot.map { [$0] } ?? [], computeDType: computeDType)
        let (start, t) = (cache.length, ids.count)
        precondition(start + t <= cache.capacity, "KV cache full")
        var x = graph.embedding(ids, shape: [t], tokenEmbeddings)
        x = graph.add(x, graph.embedding(Array(start..<(start + t)), shape: [t], positionEmbeddings))
        let mask = AttentionMask(causal: true, queryOffset: start)
        for (index, layer) in layers.enumerated() {
            x = block(graph, x, layer) { q, k, v in
                cache.store(layer: index, at: start, keys: k.data, values: v.data, count: t)
                return graph.attention(
                    q: q, k: cache.keys[index], v: cache.values[index], batch: 1, queryLength: t, keyLength: start + t,
                    heads: config.heads, kvHeads: config.heads, headDim: headDim, mask: mask, scale: scale(layer: index))
            }
        }
        cache.advance(by: t)
        if lastOnly, t > 1 { x = graph.selectRows(x, [t - 1]) }
        return graph.linear(graph.layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: config.layerNormEps), lmHead)
    }

    public func step(batch tokens: [Int], caches: [KVCache], adapterSlots: [Int]? = nil) -> Tensor {
        guard let lmHead else { preconditionFailure("loaded without an LM head") }
        precondition(tokens.count == caches.count && caches.allSatisfy { $0.length < $0.capacity }, "one token per cache, with room for it")
        let graph = Graph(recording: false, adapterSlots: adapterSlots ?? [], computeDType: computeDType)
        let (rows, h) = (tokens.count, config.hiddenSize)
        var x = graph.embedding(tokens, shape: [rows], tokenEmbeddings)
        x = graph.add(x, graph.embedding(caches.map(\.length), shape: [rows], positionEmbeddings))
        for (index, layer) in layers.enumerated() {
            x = block(graph, x, layer) { q, k, v in
                let out = Tensor(uninitialized: [rows, h])
                for (row, cache) in caches.enumerated() {
                    let at = cache.length
                    cache.store(layer: index, at: at, keys: k.data + row * h, values: v.data + row * h, count: 1)
                    let query = Tensor(uninitialized: [1, h])
                    query.data.update(from: q.data + row * h, count: h)
                    let attended = graph.attention(
                        q: query, k: cache.keys[index], v: cache.values[index], batch: 1, queryLength: 1, keyLength: at + 1,
                        heads: config.heads, kvHeads: config.heads, headDim: headDim, mask: AttentionMask(causal: true, queryOffset: at),
                        scale: scale(layer: index))
                    (out.data + row * h).update(from: attended.data, count: h)
                }
                return out
            }
        }
        caches.forEach { $0.advance(by: 1) }
        return graph.linear(graph.layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: config.layerNormEps), lmHead)
    }
}

extension GPT2: AdaptableModel {
    static let layerLinears = LayerLinears<GPT2Layer>(fields: [
        ("attn.c_attn", \.attention), ("attn.c_proj", \.attentionProjection), ("mlp.c_fc", \.feedForward),
        ("mlp.c_proj", \.feedForwardProjection),
    ])

    public var linearModuleNames: [String] {
        layers.indices.flatMap { Self.layerLinears.names(prefix: "transformer.h.\($0).") } + (score == nil ? [] : ["score"])
    }

    public var outputModuleName: String? { nil }
    public var classificationHeadName: String? { score == nil ? nil : "score" }

    public func linear(named name: String) -> LinearLayer? {
        if name == "score" { return score }
        return Self.layerLinears.linear(named: name, in: layers, prefix: "transformer.h.")
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == "score" {
            score = layer
            return
        }
        Self.layerLinears.setLinear(layer, named: name, in: &layers, prefix: "transformer.h.")
    }

    /// A block's LayerNorm bias by its name inside the block.
    static func normBiasPath(_ suffix: Substring) -> WritableKeyPath<GPT2Layer, Tensor>? {
        switch suffix {
        case "ln_1.bias": \.norm1Bias
        case "ln_2.bias": \.norm2Bias
        default: nil
        }
    }

    public var normBiasNames: [String] {
        layers.indices.flatMap { i in ["ln_1.bias", "ln_2.bias"].map { "transformer.h.\(i).\($0)" } } + ["transformer.ln_f.bias"]
    }

    public func normBias(named name: String) -> Tensor? {
        if name == "transformer.ln_f.bias" { return finalNormBias }
        guard let (index, suffix) = layerIndex(name, prefix: "transformer.h."), layers.indices.contains(index),
            let path = Self.normBiasPath(suffix)
        else { return nil }
        return layers[index][keyPath: path]
    }

    public func setNormBias(_ bias: Tensor, named name: String) {
        if name == "transformer.ln_f.bias" {
            finalNormBias = bias
            return
        }
        guard let (index, suffix) = layerIndex(name, prefix: "transformer.h."), layers.indices.contains(index),
            let path = Self.normBiasPath(suffix)
        else { return }
        layers[index][keyPath: path] = bias
    }
}

extension GPT2: CausalLanguageModel {
    public var family: any ModelFamily { GPT2Family() }
    public var vocabularySize: Int { config.vocabSize }
    public var labels: [String] { config.labels }
    public var maxPositions: Int { config.maxPositions }
    public var tokenCapacity: Int? { config.maxPositions }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var replacedHeadLabels: Int? { nil }
    public var tiedOutputModule: String? { nil }
    public var storedTensors: [(name: String, weight: any StoredLinearWeight)] { [] }

    public func padId(using tokenizer: Tokenizer) -> Int {
        config.padTokenId ?? tokenizer.configuredPadId ?? config.eosTokenIds.first ?? 0
    }

    public var promptGeometry: PromptGeometry {
        PromptGeometry(
            hiddenSize: config.hiddenSize, layers: config.layers, heads: config.heads, keyValueWidth: config.hiddenSize,
            keyValueHeads: config.heads, maxPositions: config.maxPositions)
    }

    public func reseedDropout(seed: UInt64, step: Int) { rng = RandomGenerator(seed: seed, streams: UInt64(step), 0) }

    /// Conv1D weights go back to `[in, out]`, as transformers reads them.
    public func checkpointLayout(_ name: String, values: [Float], shape: [Int]) -> (values: [Float], shape: [Int]) {
        guard shape.count == 2, name.hasPrefix("transformer.h."), name.hasSuffix(".weight"),
            Self.layerLinears.fields.contains(where: { name.hasSuffix("." + $0.0 + ".weight") })
        else { return (values, shape) }
        let (out, inFeatures) = (shape[0], shape[1])
        return ((0..<(out * inFeatures)).map { index in values[(index % out) * inFeatures + index / out] }, [inFeatures, out])
    }

    public func forward(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        switch head {
        case .causalLM: logits(graph, batch)
        case .sequenceClassification: classify(graph, batch)
        case .encoder, .tokenClassification, .questionAnswering, .seq2seqLM: decode(graph, batch)
        }
    }
}

/// GPT-2 (`GPT2LMHeadModel`, `GPT2ForSequenceClassification`): learned positions, pre-LN
/// blocks, fused q/k/v, Conv1D weights stored `[in, out]` (held here in Linear layout; PEFT's
/// `fan_in_fan_out` LoRA factors are in Linear layout already), the head tied to `wte`.
public struct GPT2Family: ModelFamily {
    public init() {}
    public var name: String { "GPT-2" }
    public var heads: [ModelHead] { [.causalLM, .sequenceClassification] }
    public var defaultHead: ModelHead { .causalLM }
    public var defaultLoRATargets: [String] { ["c_attn"] }
    public var defaultIA3Targets: (targets: [String], feedforward: [String]) { (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]) }
    public var bottleneckTargets: [String] { ["attn.c_proj", "mlp.c_proj"] }
    public var conv1DLinears: Bool { true }

    public func architecture(for head: ModelHead) -> String {
        head == .sequenceClassification ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"
    }

    /// A `GPT2Model` checkpoint (the hub's "gpt2") names its tensors without "transformer.".
    public func sanitize(_ weights: WeightStore) { weights.prefixAliases = [("transformer.", "")] }

    public func load(
        _ config: ConfigReader, weights: WeightStore, head: ModelHead, trainable: Bool,
        labels: [String]?
    ) throws -> any TransformerModel {
        var gptConfig = try GPT2Config(config)
        if let labels { gptConfig.labels = labels }
        return try GPT2(config: gptConfig, weights: weights, head: head, trainable: trainable)
    }
}
