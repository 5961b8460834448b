import Foundation
import Tokenizers
import TrainingCore

/// T5's hyper-parameters from config.json (`model_type` "t5": T5 v1.0, v1.1, Flan-T5).
public struct T5Config: Sendable {
    public var vocabSize, modelSize, keyValueSize, heads, feedForwardSize, layers, decoderLayers: Int
    public var buckets, maxDistance: Int
    public var dropout, layerNormEps: Float
    /// `gated-gelu` (v1.1, Flan-T5): act(wi_0·x) ⊙ wi_1·x; otherwise act(wi·x).
    public var gated: Bool
    /// relu, or gelu_new (what transformers runs for "gelu" in a gated T5).
    public var activation: String
    /// The output head is the embedding table (`tie_word_embeddings`).
    public var tied: Bool
    /// The decoder's output is scaled by d_model^-0.5 before the head: transformers 5 reads
    /// `scale_decoder_outputs`, which earlier configs leave to `tie_word_embeddings`.
    public var scaleDecoderOutputs: Bool
    public var padTokenId, eosTokenId, decoderStartTokenId: Int
    /// T5 has no position table; `n_positions` is only the length it was trained at.
    public var maxPositions: Int

    public init(_ config: ConfigReader) throws {
        vocabSize = try config.int("vocab_size", atLeast: 1)
        modelSize = try config.int("d_model", atLeast: 1)
        keyValueSize = try config.int("d_kv", atLeast: 1)
        heads = try config.int("num_heads", atLeast: 1)
        feedForwardSize = try config.int("d_ff", atLeast: 1)
        layers = try config.int("num_layers", atLeast: 1)
        decoderLayers = try config.int("num_decoder_layers", default: layers, atLeast: 1)
        buckets = try config.int("relative_attention_num_buckets", default: 32, atLeast: 2)
        maxDistance = try config.int("relative_attention_max_distance", default: 128, atLeast: 2)
        dropout = Float(try config.double("dropout_rate", default: 0.1))
        layerNormEps = Float(try config.double("layer_norm_epsilon", default: 1e-6))
        tied = try config.bool("tie_word_embeddings", default: true)
        scaleDecoderOutputs = try config.bool("scale_decoder_outputs", default: tied)
        padTokenId = try config.int("pad_token_id", default: 0)
        eosTokenId = try config.int("eos_token_id", default: 1)
        decoderStartTokenId = try config.int("decoder_start_token_id", default: padTokenId)
        maxPositions = try config.int("n_positions", default: 512, atLeast: 1)
        let projection = try config.string("feed_forward_proj", default: "relu")
        gated = projection.hasPrefix("gated-")
        let act = gated ? String(projection.dropFirst("gated-".count)) : projection
        switch act {
        case "relu": activation = "relu"
        case "gelu", "gelu_new": activation = "gelu_new"
        default: throw config.fail("feed_forward_proj", "is \(projection); relu, gated-relu and gated-gelu are supported")
        }
        if buckets / 2 < 2 || maxDistance <= buckets / 4 {
            throw config.fail("relative_attention_max_distance", "(\(maxDistance)) must exceed a quarter of the \(buckets) buckets")
        }
    }
}

/// One attention block's projections (`q`, `k`, `v`, `o`, no biases).
public struct T5Attention {
    public var q, k, v, o: LinearLayer
}

/// The feed-forward block: `wi` (or `wi_0`, with `wi_1` as the gate's linear half), then `wo`.
public struct T5FeedForward {
    public var input: LinearLayer
    public var linear: LinearLayer?
    public var output: LinearLayer
}

/// An encoder block (`layer.0` self-attention, `layer.1` feed-forward) or a decoder block
/// (`layer.0` self-attention, `layer.1` cross-attention, `layer.2` feed-forward), each sub-layer
/// after its RMS norm, added to the residual.
public struct T5Block {
    public var selfAttention: T5Attention
    public var selfNorm: Tensor
    public var crossAttention: T5Attention?
    public var crossNorm: Tensor?
    public var feedForward: T5FeedForward
    public var feedForwardNorm: Tensor
}

/// `T5ForConditionalGeneration`: an encoder over the source and a decoder over the target, with
/// T5's relative position buckets (the table in each stack's first block) instead of positions.
public final class T5 {
    public var config: T5Config
    public let head: ModelHead
    /// The embedding table both stacks read (`shared`), and the output head when tied.
    public let shared: Tensor
    public var encoder, decoder: [T5Block]
    public let encoderBias, decoderBias: Tensor
    public let encoderNorm, decoderNorm: Tensor
    public var lmHead: LinearLayer
    public var rng = RandomGenerator(seed: 0)
    public var gradientCheckpointing = false
    public var computeDType = ComputeDType.f32
    public var virtualTokens: Tensor?
    public var prefix: Tensor?
    public private(set) var namedParameters: [(String, Tensor)] = []
    let layerLinears: (encoder: LayerLinears<T5Block>, decoder: LayerLinears<T5Block>)

    public init(config: T5Config, weights: WeightStore, trainable: Bool) throws {
        self.config = config
        head = .seq2seqLM
        let (d, inner) = (config.modelSize, config.heads * config.keyValueSize)
        var parameters: [(String, Tensor)] = []
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try weights.tensor(name, shape: shape, trainable: trainable)
            parameters.append((name, t))
            return t
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) throws -> LinearLayer {
            let layer = try weights.linear(name, out: out, in: inFeatures, hasBias: false, trainable: trainable)
            if case .dense(let w) = layer.weight { parameters.append((name + ".weight", w)) }
            return layer
        }
        func attention(_ prefix: String) throws -> T5Attention {
            T5Attention(
                q: try linear(prefix + "q", out: inner, in: d), k: try linear(prefix + "k", out: inner, in: d),
                v: try linear(prefix + "v", out: inner, in: d), o: try linear(prefix + "o", out: d, in: inner))
        }
        func feedForward(_ prefix: String) throws -> T5FeedForward {
            let f = config.feedForwardSize
            return T5FeedForward(
                input: try linear(prefix + (config.gated ? "wi_0" : "wi"), out: f, in: d),
                linear: config.gated ? try linear(prefix + "wi_1", out: f, in: d) : nil, output: try linear(prefix + "wo", out: d, in: f))
        }
        shared = try tensor("shared.weight", [config.vocabSize, d])
        var encoder: [T5Block] = [], decoder: [T5Block] = []
        var encoderBias: Tensor?, decoderBias: Tensor?
        for i in 0..<config.layers {
            let p = "encoder.block.\(i)."
            let selfAttention = try attention(p + "layer.0.SelfAttention.")
            if i == 0 {
                encoderBias = try tensor(p + "layer.0.SelfAttention.relative_attention_bias.weight", [config.buckets, config.heads])
            }
            encoder.append(
                T5Block(
                    selfAttention: selfAttention, selfNorm: try tensor(p + "layer.0.layer_norm.weight", [d]),
                    feedForward: try feedForward(p + "layer.1.DenseReluDense."),
                    feedForwardNorm: try tensor(p + "layer.1.layer_norm.weight", [d])))
        }
        let encoderNorm = try tensor("encoder.final_layer_norm.weight", [d])
        for i in 0..<config.decoderLayers {
            let p = "decoder.block.\(i)."
            let selfAttention = try attention(p + "layer.0.SelfAttention.")
            if i == 0 {
                decoderBias = try tensor(p + "layer.0.SelfAttention.relative_attention_bias.weight", [config.buckets, config.heads])
            }
            decoder.append(
                T5Block(
                    selfAttention: selfAttention, selfNorm: try tensor(p + "layer.0.layer_norm.weight", [d]),
                    crossAttention: try attention(p + "layer.1.EncDecAttention."),
                    crossNorm: try tensor(p + "layer.1.layer_norm.weight", [d]),
                    feedForward: try feedForward(p + "layer.2.DenseReluDense."),
                    feedForwardNorm: try tensor(p + "layer.2.layer_norm.weight", [d])))
        }
        decoderNorm = try tensor("decoder.final_layer_norm.weight", [d])
        lmHead = config.tied ? LinearLayer(weight: .dense(shared), bias: nil) : try linear("lm_head", out: config.vocabSize, in: d)
        (self.encoder, self.decoder, self.encoderNorm) = (encoder, decoder, encoderNorm)
        (self.encoderBias, self.decoderBias) = (encoderBias!, decoderBias!)
        namedParameters = parameters
        layerLinears = Self.linears(gated: config.gated)
    }

    static func linears(gated: Bool) -> (encoder: LayerLinears<T5Block>, decoder: LayerLinears<T5Block>) {
        func attention(_ prefix: String, _ path: WritableKeyPath<T5Block, T5Attention>) -> [(String, WritableKeyPath<T5Block, LinearLayer>)]
        {
            [("q", \T5Attention.q), ("k", \.k), ("v", \.v), ("o", \.o)].map { (prefix + $0.0, path.appending(path: $0.1)) }
        }
        func feedForward(_ prefix: String) -> [(String, WritableKeyPath<T5Block, LinearLayer>)] {
            gated
                ? [
                    (prefix + "wi_0", \T5Block.feedForward.input), (prefix + "wi_1", \.feedForward.linear!),
                    (prefix + "wo", \.feedForward.output),
                ]
                : [(prefix + "wi", \T5Block.feedForward.input), (prefix + "wo", \.feedForward.output)]
        }
        return (
            LayerLinears(fields: attention("layer.0.SelfAttention.", \.selfAttention) + feedForward("layer.1.DenseReluDense.")),
            LayerLinears(
                fields: attention("layer.0.SelfAttention.", \.selfAttention) + attention("layer.1.EncDecAttention.", \.crossAttention!)
                    + feedForward("layer.2.DenseReluDense."))
        )
    }

    var headDim: Int { config.keyValueSize }

    func feedForward(_ graph: Graph, _ x: Tensor, _ block: T5FeedForward) -> Tensor {
        let input = graph.linear(x, block.input)
        var hidden = config.activation == "relu" ? graph.relu(input) : graph.geluTanh(input)
        if let linear = block.linear { hidden = graph.multiply(hidden, graph.linear(x, linear)) }
        return graph.linear(graph.dropout(hidden, p: config.dropout, rng: &rng), block.output)
    }

    /// The encoder's output `[B·T, d]` for `batch`'s ids and mask.
    public func encode(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        let (b, t) = (batch.batch, batch.length)
        var x = graph.dropout(graph.embedding(batch.ids, shape: [b * t], shared), p: config.dropout, rng: &rng)
        let bias = graph.relativePositionBias(
            encoderBias, queryLength: t, keyLength: t, bidirectional: true, maxDistance: config.maxDistance)
        let mask = AttentionMask(keyIsToken: batch.mask.allSatisfy { $0 } ? nil : batch.mask)
        for block in encoder {
            let run = { [unowned self] (graph: Graph, x: Tensor) -> Tensor in
                let h = graph.rmsNorm(x, weight: block.selfNorm, eps: config.layerNormEps)
                let attended = attend(graph, h, h, block.selfAttention, batch: b, queryLength: t, keyLength: t, mask: mask, bias: bias)
                let y = graph.add(x, graph.dropout(attended, p: config.dropout, rng: &rng))
                let f = feedForward(graph, graph.rmsNorm(y, weight: block.feedForwardNorm, eps: config.layerNormEps), block.feedForward)
                return graph.add(y, graph.dropout(f, p: config.dropout, rng: &rng))
            }
            x = gradientCheckpointing ? graph.checkpoint(x, run) : run(graph, x)
        }
        return graph.dropout(graph.rmsNorm(x, weight: encoderNorm, eps: config.layerNormEps), p: config.dropout, rng: &rng)
    }

    /// Attention of `queries` over `keys` (their own rows, or the encoder's) without T5's 1/√d.
    func attend(
        _ graph: Graph, _ queries: Tensor, _ keys: Tensor, _ block: T5Attention, batch: Int, queryLength: Int, keyLength: Int,
        mask: AttentionMask, bias: Tensor?
    ) -> Tensor {
        let context = graph.attention(
            q: graph.linear(queries, block.q), k: graph.linear(keys, block.k), v: graph.linear(keys, block.v), batch: batch,
            queryLength: queryLength, keyLength: keyLength, heads: config.heads, kvHeads: config.heads, headDim: headDim,
            mask: mask, scale: 1, bias: bias)
        return graph.linear(context, block.o)
    }

    /// The decoder's output `[B·Td, d]` over `batch.decoderIds`, attending to `memory` (the
    /// encoder's output for `batch`).
    func decode(_ graph: Graph, _ batch: TokenBatch, memory: Tensor) -> Tensor {
        // Without decoder ids (a sample pass comparing outputs): the first step's, after the start token.
        let ids = batch.decoderIds ?? [Int](repeating: config.decoderStartTokenId, count: batch.batch)
        let (b, t, source) = (batch.batch, batch.decoderIds == nil ? 1 : batch.decoderLength, batch.length)
        var x = graph.dropout(graph.embedding(ids, shape: [b * t], shared), p: config.dropout, rng: &rng)
        let bias = graph.relativePositionBias(
            decoderBias, queryLength: t, keyLength: t, bidirectional: false, maxDistance: config.maxDistance)
        let causal = AttentionMask(causal: true)
        let memoryMask = AttentionMask(keyIsToken: batch.mask.allSatisfy { $0 } ? nil : batch.mask)
        for block in decoder {
            let run = { [unowned self] (graph: Graph, x: Tensor) -> Tensor in
                let h = graph.rmsNorm(x, weight: block.selfNorm, eps: config.layerNormEps)
                let attended = attend(graph, h, h, block.selfAttention, batch: b, queryLength: t, keyLength: t, mask: causal, bias: bias)
                let y = graph.add(x, graph.dropout(attended, p: config.dropout, rng: &rng))
                let c = graph.rmsNorm(y, weight: block.crossNorm!, eps: config.layerNormEps)
                let crossed = attend(
                    graph, c, memory, block.crossAttention!, batch: b, queryLength: t, keyLength: source, mask: memoryMask, bias: nil)
                let z = graph.add(y, graph.dropout(crossed, p: config.dropout, rng: &rng))
                let f = feedForward(graph, graph.rmsNorm(z, weight: block.feedForwardNorm, eps: config.layerNormEps), block.feedForward)
                return graph.add(z, graph.dropout(f, p: config.dropout, rng: &rng))
            }
            x = gradientCheckpointing ? graph.checkpoint(x, run) : run(graph, x)
        }
        return outputHidden(
            graph, graph.dropout(graph.rmsNorm(x, weight: decoderNorm, eps: config.layerNormEps), p: config.dropout, rng: &rng))
    }

    /// T5's tied head reads the decoder's output scaled by d_model^-0.5.
    func outputHidden(_ graph: Graph, _ x: Tensor) -> Tensor {
        config.scaleDecoderOutputs ? graph.scale(x, by: 1 / Float(config.modelSize).squareRoot()) : x
    }

    /// Next-token logits `[B·Td, V]` at every decoder position.
    public func logits(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        graph.linear(decode(graph, batch, memory: encode(graph, batch)), lmHead)
    }
}

extension T5: AdaptableModel {
    public var linearModuleNames: [String] {
        encoder.indices.flatMap { layerLinears.encoder.names(prefix: "encoder.block.\($0).") }
            + decoder.indices.flatMap { layerLinears.decoder.names(prefix: "decoder.block.\($0).") }
            + (config.tied ? [] : ["lm_head"])
    }

    public var outputModuleName: String? { "lm_head" }
    public var classificationHeadName: String? { nil }
    public var newlyInitialized: [String] { [] }

    public func linear(named name: String) -> LinearLayer? {
        if name == "lm_head" { return config.tied ? nil : lmHead }
        return layerLinears.encoder.linear(named: name, in: encoder, prefix: "encoder.block.")
            ?? layerLinears.decoder.linear(named: name, in: decoder, prefix: "decoder.block.")
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == "lm_head" {
            if !config.tied { lmHead = layer }
            return
        }
        if !layerLinears.encoder.setLinear(layer, named: name, in: &encoder, prefix: "encoder.block.") {
            layerLinears.decoder.setLinear(layer, named: name, in: &decoder, prefix: "decoder.block.")
        }
    }

    // T5's norms have no biases.
    public var normBiasNames: [String] { [] }
    public func normBias(named name: String) -> Tensor? { nil }
    public func setNormBias(_ bias: Tensor, named name: String) {}

    public var promptGeometry: PromptGeometry {
        PromptGeometry(
            hiddenSize: config.modelSize, layers: config.layers + config.decoderLayers, heads: config.heads,
            keyValueWidth: config.heads * config.keyValueSize, keyValueHeads: config.heads, maxPositions: config.maxPositions)
    }
}

extension T5: TransformerModel {
    public var family: any ModelFamily { T5Family() }
    public var vocabularySize: Int { config.vocabSize }
    public var labels: [String] { [] }
    public var maxPositions: Int { config.maxPositions }
    public var tokenCapacity: Int? { nil }
    public var eosTokenIds: [Int] { [config.eosTokenId] }
    public var replacedHeadLabels: Int? { nil }
    public var tiedOutputModule: String? { nil }
    public var storedTensors: [(name: String, weight: any StoredLinearWeight)] { [] }

    public func padId(using tokenizer: Tokenizer) -> Int { config.padTokenId }
    public var decoderStartTokenId: Int? { config.decoderStartTokenId }
    public func reseedDropout(seed: UInt64, step: Int) { rng = RandomGenerator(seed: seed, streams: UInt64(step), 0) }
    public func forward(_ graph: Graph, _ batch: TokenBatch) -> Tensor { logits(graph, batch) }
}

/// T5 and Flan-T5 (`T5ForConditionalGeneration`): PEFT targets `q` and `v`.
public struct T5Family: ModelFamily {
    public init() {}
    public var name: String { "T5" }
    public var heads: [ModelHead] { [.seq2seqLM] }
    public var defaultHead: ModelHead { .seq2seqLM }
    public var defaultLoRATargets: [String] { ["q", "v"] }
    public var defaultIA3Targets: (targets: [String], feedforward: [String]) { (["k", "v", "wo"], ["wo"]) }
    public var bottleneckTargets: [String] { ["o", "wo"] }
    public func architecture(for head: ModelHead) -> String { "T5ForConditionalGeneration" }

    public func load(
        _ config: ConfigReader, weights: WeightStore, head: ModelHead, trainable: Bool, labels: [String]?
    ) throws -> any TransformerModel {
        try T5(config: T5Config(config), weights: weights, trainable: trainable)
    }
}

/// Generation: the source is encoded once, each decoder block's cross-attention keys and values
/// are kept after the self-attention ones in the cache, and the decoder then steps from
/// `decoder_start_token_id` with its own keys and values cached.
extension T5: CausalLanguageModel {
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: 2 * decoder.count, capacity: capacity, kvStride: config.heads * config.keyValueSize)
    }

    public func prefill(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor {
        precondition(cache.length == 0 && ids.count <= cache.capacity, "a fresh cache with room for the source")
        let graph = Graph(recording: false, adapterSlots: adapterSlot.map { [$0] } ?? [], computeDType: computeDType)
        let memory = encode(graph, TokenBatch(ids: [ids]))
        for (index, block) in decoder.enumerated() {
            let (k, v) = (graph.linear(memory, block.crossAttention!.k), graph.linear(memory, block.crossAttention!.v))
            cache.store(layer: decoder.count + index, at: 0, keys: k.data, values: v.data, count: ids.count)
        }
        cache.memoryLength = ids.count
        return step([config.decoderStartTokenId], cache: cache, adapterSlot: adapterSlot)
    }

    public func step(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor {
        let graph = Graph(recording: false, adapterSlots: adapterSlot.map { [$0] } ?? [], computeDType: computeDType)
        let (start, t, layers) = (cache.length, ids.count, decoder.count)
        precondition(start + t <= cache.capacity, "KV cache full")
        var x = graph.embedding(ids, shape: [t], shared)
        let bias = graph.relativePositionBias(
            decoderBias, queryLength: t, keyLength: start + t, queryOffset: start, bidirectional: false, maxDistance: config.maxDistance)
        let causal = AttentionMask(causal: true, queryOffset: start)
        func attention(_ q: Tensor, layer: Int, keys: Int, mask: AttentionMask, bias: Tensor?) -> Tensor {
            graph.attention(
                q: q, k: cache.keys[layer], v: cache.values[layer], batch: 1, queryLength: t, keyLength: keys, heads: config.heads,
                kvHeads: config.heads, headDim: headDim, mask: mask, scale: 1, bias: bias)
        }
        for (index, block) in decoder.enumerated() {
            let h = graph.rmsNorm(x, weight: block.selfNorm, eps: config.layerNormEps)
            let (k, v) = (graph.linear(h, block.selfAttention.k), graph.linear(h, block.selfAttention.v))
            cache.store(layer: index, at: start, keys: k.data, values: v.data, count: t)
            let attended = attention(graph.linear(h, block.selfAttention.q), layer: index, keys: start + t, mask: causal, bias: bias)
            x = graph.add(x, graph.linear(attended, block.selfAttention.o))
            let c = graph.rmsNorm(x, weight: block.crossNorm!, eps: config.layerNormEps)
            let crossed = attention(
                graph.linear(c, block.crossAttention!.q), layer: layers + index, keys: cache.memoryLength, mask: AttentionMask(),
                bias: nil)
            x = graph.add(x, graph.linear(crossed, block.crossAttention!.o))
            x = graph.add(
                x, feedForward(graph, graph.rmsNorm(x, weight: block.feedForwardNorm, eps: config.layerNormEps), block.feedForward))
        }
        cache.advance(by: t)
        return graph.linear(outputHidden(graph, graph.rmsNorm(x, weight: decoderNorm, eps: config.layerNormEps)), lmHead)
    }

    public func step(batch tokens: [Int], caches: [KVCache], adapterSlots: [Int]?) -> Tensor {
        let rows = zip(tokens, caches).enumerated().map { row, pair in step([pair.0], cache: pair.1, adapterSlot: adapterSlots?[row]) }
        let logits = Tensor(uninitialized: [rows.count, config.vocabSize])
        for (row, values) in rows.enumerated() { (logits.data + row * config.vocabSize).update(from: values.data, count: config.vocabSize) }
        return logits
    }
}
