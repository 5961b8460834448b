import Foundation
import Tokenizers
import TrainingCore

/// BERT's hyper-parameters from config.json (`model_type` "bert").
public struct BertConfig: Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenDropout: Float
    public var attentionDropout: Float
    public var classifierDropout: Float
    public var labels: [String]
    public var initializerRange: Float
    /// `pad_token_id`: RoBERTa's positions count from it.
    public var padTokenId: Int

    public init(_ config: ConfigReader) throws {
        vocabSize = try config.int("vocab_size", atLeast: 1)
        hiddenSize = try config.int("hidden_size", atLeast: 1)
        layers = try config.int("num_hidden_layers", atLeast: 0)
        heads = try config.int("num_attention_heads")
        intermediateSize = try config.int("intermediate_size", atLeast: 1)
        maxPositions = try config.int("max_position_embeddings", atLeast: 1)
        typeVocabSize = try config.int("type_vocab_size", default: 2, atLeast: 1)
        layerNormEps = Float(try config.double("layer_norm_eps", default: 1e-12))
        hiddenDropout = Float(try config.double("hidden_dropout_prob", default: 0.1))
        attentionDropout = Float(try config.double("attention_probs_dropout_prob", default: 0.1))
        classifierDropout = Float(try config.double("classifier_dropout", default: Double(hiddenDropout)))
        initializerRange = Float(try config.double("initializer_range", default: 0.02))
        labels = try config.labels() ?? ["LABEL_0", "LABEL_1"]
        padTokenId = try config.int("pad_token_id", default: 0)
        let activation = try config.string("hidden_act", default: "gelu")
        guard activation == "gelu" else { throw config.fail("hidden_act", "is \(activation); only \"gelu\" is supported for BERT") }
        let positions = try config.string("position_embedding_type", default: "absolute")
        guard positions == "absolute" else {
            throw config.fail("position_embedding_type", "is \(positions); only \"absolute\" is supported")
        }
        if try config.bool("is_decoder", default: false) { throw config.fail("is_decoder", "is true; BERT as a decoder is not supported") }
        guard heads > 0 else { throw config.fail("num_attention_heads", "must be positive, not \(heads)") }
        guard hiddenSize % heads == 0 else {
            throw config.fail("num_attention_heads", "(\(heads)) does not divide hidden_size \(hiddenSize)")
        }
    }
}

/// What BERT-style encoders that share ``Bert``'s layers differ in: the prefix of their tensor
/// names, where positions start, and the classification head on the first token. Each family
/// (BERT, RoBERTa) supplies one; nothing else in the encoder names a family.
public struct EncoderLayout: Sendable {
    /// "bert." or "roberta.": the base model's attribute in `…ForSequenceClassification`.
    public var prefix: String
    /// The family, for ``TransformerModel/family``.
    public var family: any ModelFamily
    /// Position ids of one sequence: its token ids, the pad id, and how many positions a prefix
    /// (prefix tuning's keys) or virtual tokens (prompt tuning) take before it.
    public var positions: @Sendable (_ ids: ArraySlice<Int>, _ padId: Int, _ offset: Int, _ virtual: Int) -> [Int]
    /// The head's hidden dense layer on the first token (BERT's pooler) and its output layer.
    public var headDense: String
    public var headOutput: String
    /// RoBERTa's head applies dropout before its dense layer too; BERT's pooler does not.
    public var dropoutBeforeHeadDense: Bool
    /// Whether padding's position (`pad_token_id`, RoBERTa's) is the position table's
    /// `padding_idx`, a row that never learns.
    public var padsPositions = false

    func positionPaddingIndex(_ config: BertConfig) -> Int? { padsPositions ? config.padTokenId : nil }

    /// The Linear that ends `head`: the sequence classifier's output layer, or the per-token
    /// `classifier` / `qa_outputs` every BERT-style family names alike.
    public func outputName(of head: ModelHead) -> String {
        switch head {
        case .sequenceClassification: headOutput
        case .questionAnswering: "qa_outputs"
        default: "classifier"
        }
    }

    /// BERT: positions 0, 1, 2… after any prefix; pooler + tanh, then `classifier`.
    public static let bert = EncoderLayout(
        prefix: "bert.", family: BertFamily(), positions: { ids, _, offset, virtual in (0..<(ids.count + virtual)).map { offset + $0 } },
        headDense: "bert.pooler.dense", headOutput: "classifier", dropoutBeforeHeadDense: false)
}

/// One encoder layer's weights, named as in transformers (`bert.encoder.layer.N.…`).
public struct BertLayer {
    public var query, key, value, attentionOutput, intermediate, output: LinearLayer
    public var attentionNormWeight, attentionNormBias, outputNormWeight, outputNormBias: Tensor
}

/// `BertModel` (+ pooler) and the classification head of `BertForSequenceClassification`.
public final class Bert {
    public var config: BertConfig
    public let layout: EncoderLayout
    public let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingNormWeight: Tensor
    /// Replaceable like the layers' norms: an adapter trained with bias="all" brings its own.
    public var embeddingNormBias: Tensor
    public var layers: [BertLayer]
    public var pooler: LinearLayer?
    public var classifier: LinearLayer?
    /// Prompt tuning's virtual token embeddings `[n, C]`, put before every sequence's word
    /// embeddings (positions and segments then count them, as transformers does).
    public var virtualTokens: Tensor?
    /// Prefix tuning's keys and values `[n, layers·2·C]` (layer l's keys at columns 2l·C, its
    /// values next), seen by every query before the sequence's own; the sequence's positions then
    /// start at n, as transformers counts a cache.
    public var prefix: Tensor?
    /// Seeds dropout masks; reseed for reproducible runs.
    public var rng = RandomGenerator(seed: 0)
    /// Recompute each encoder layer in backward instead of keeping its activations.
    public var gradientCheckpointing = false
    public var computeDType = ComputeDType.f32
    /// The checkpoint's classifier has another number of labels than asked for, so a new head was
    /// initialised (transformers' `ignore_mismatched_sizes`): the stored one's output count.
    public private(set) var replacedHeadLabels: Int?
    /// Weights the checkpoint lacked that were initialised at random (transformers' "newly
    /// initialized" warning): a sentence-embedding checkpoint has no classifier, for one.
    public private(set) var newlyInitialized: [String] = []
    /// Every parameter with its Hugging Face name (for optimizers, saving, reports).
    public private(set) var namedParameters: [(String, Tensor)] = []

    /// Loads from `weights` with the names of `BertForSequenceClassification` (a `BertModel`
    /// checkpoint's names without "bert." are accepted). A missing pooler or classifier is
    /// initialised as transformers does (normal(0, initializer_range), zero bias).
    public let head: ModelHead

    public convenience init(
        config: BertConfig, weights: WeightStore, withClassifier: Bool, trainable: Bool, layout: EncoderLayout = .bert
    ) throws {
        try self.init(
            config: config, weights: weights, head: withClassifier ? .sequenceClassification : .encoder, trainable: trainable,
            layout: layout)
    }

    /// Loads with `head`: the sequence classifier on the first token, a Linear on every token
    /// (`classifier` for labels, `qa_outputs` for answer spans), or none.
    public init(config: BertConfig, weights: WeightStore, head: ModelHead, trainable: Bool, layout: EncoderLayout = .bert) throws {
        self.config = config
        self.layout = layout
        self.head = head
        let headOutput = layout.outputName(of: head)
        layout.family.sanitize(weights)
        let prefix = layout.prefix
        let h = config.hiddenSize
        var rng = RandomGenerator(seed: 42)
        var parameters: [(String, Tensor)] = []
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try weights.tensor(name, shape: shape, trainable: trainable)
            parameters.append((name, t))
            return t
        }
        var replacedHeadLabels: Int?
        var newlyInitialized: [String] = []
        func linear(_ name: String, out: Int, in inFeatures: Int, initialiseIfMissing: Bool = false) throws -> LinearLayer {
            let stored = weights.storedShape(name + ".weight")
            let mismatched = name == headOutput && stored.map { $0.count == 2 && $0[0] != out && $0[1] == inFeatures } == true
            if mismatched { replacedHeadLabels = stored?[0] }
            if initialiseIfMissing && (!weights.contains(name + ".weight") || mismatched) {
                let weight = Tensor(
                    (0..<(out * inFeatures)).map { _ in rng.nextNormal() * config.initializerRange },
                    shape: [out, inFeatures], requiresGrad: trainable, name: name + ".weight")
                let bias = Tensor(zeros: [out], requiresGrad: trainable, name: name + ".bias")
                parameters += [(name + ".weight", weight), (name + ".bias", bias)]
                newlyInitialized += [name + ".weight", name + ".bias"]
                return LinearLayer(weight: .dense(weight), bias: bias)
            }
            let layer = try weights.linear(name, out: out, in: inFeatures, hasBias: true, trainable: trainable)
            if case .dense(let w) = layer.weight { parameters.append((name + ".weight", w)) }
            if let b = layer.bias { parameters.append((name + ".bias", b)) }
            return layer
        }
        wordEmbeddings = try tensor(prefix + "embeddings.word_embeddings.weight", [config.vocabSize, h])
        positionEmbeddings = try tensor(prefix + "embeddings.position_embeddings.weight", [config.maxPositions, h])
        tokenTypeEmbeddings = try tensor(prefix + "embeddings.token_type_embeddings.weight", [config.typeVocabSize, h])
        embeddingNormWeight = try tensor(prefix + "embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try tensor(prefix + "embeddings.LayerNorm.bias", [h])
        layers = []
        for i in 0..<config.layers {
            let p = prefix + "encoder.layer.\(i)."
            let query = try linear(p + "attention.self.query", out: h, in: h)
            let key = try linear(p + "attention.self.key", out: h, in: h)
            let value = try linear(p + "attention.self.value", out: h, in: h)
            let attentionOutput = try linear(p + "attention.output.dense", out: h, in: h)
            let attentionNormWeight = try tensor(p + "attention.output.LayerNorm.weight", [h])
            let attentionNormBias = try tensor(p + "attention.output.LayerNorm.bias", [h])
            let intermediate = try linear(p + "intermediate.dense", out: config.intermediateSize, in: h)
            let output = try linear(p + "output.dense", out: h, in: config.intermediateSize)
            let outputNormWeight = try tensor(p + "output.LayerNorm.weight", [h])
            let outputNormBias = try tensor(p + "output.LayerNorm.bias", [h])
            layers.append(
                BertLayer(
                    query: query, key: key, value: value, attentionOutput: attentionOutput,
                    intermediate: intermediate, output: output, attentionNormWeight: attentionNormWeight,
                    attentionNormBias: attentionNormBias, outputNormWeight: outputNormWeight,
                    outputNormBias: outputNormBias))
        }
        switch head {
        case .sequenceClassification:
            pooler = try linear(layout.headDense, out: h, in: h, initialiseIfMissing: true)
            classifier = try linear(layout.headOutput, out: config.labels.count, in: h, initialiseIfMissing: true)
        case .tokenClassification:
            classifier = try linear("classifier", out: config.labels.count, in: h, initialiseIfMissing: true)
        case .questionAnswering:
            classifier = try linear("qa_outputs", out: 2, in: h, initialiseIfMissing: true)
        case .encoder, .causalLM, .seq2seqLM:
            break
        }
        if head == .encoder, layout.headDense.hasPrefix(prefix), weights.contains(layout.headDense + ".weight") {
            pooler = try linear(layout.headDense, out: h, in: h)
        }
        namedParameters = parameters
        self.replacedHeadLabels = replacedHeadLabels
        self.newlyInitialized = newlyInitialized
    }

    /// The most tokens one sequence may hold: the learned positions less those that prompt
    /// tuning's virtual tokens or a prefix take.
    public var tokenCapacity: Int? {
        let first = layout.positions([0], config.padTokenId, 0, 0).first ?? 0
        return config.maxPositions - first - (virtualTokens?.rows ?? 0) - (prefix?.rows ?? 0)
    }

    /// The encoder's last hidden state `[B·T, C]`.
    public func encode(_ graph: Graph, _ input: TokenBatch) -> Tensor {
        var batch = input
        var x = graph.embedding(input.ids, shape: [input.batch * input.length], wordEmbeddings, paddingIndex: config.padTokenId)
        if let virtualTokens {
            x = graph.prependRows(virtualTokens, to: x, batch: input.batch, length: input.length)
            batch = input.withVirtualPrefix(virtualTokens.rows)
        }
        let (b, t, h) = (batch.batch, batch.length, config.hiddenSize)
        let shape = [b * t]
        let n = prefix?.rows ?? 0
        let virtual = virtualTokens?.rows ?? 0
        let positions = (0..<input.batch).flatMap { row in
            layout.positions(input.ids[(row * input.length)..<((row + 1) * input.length)], config.padTokenId, n, virtual)
        }
        x = graph.add(x, graph.embedding(positions, shape: shape, positionEmbeddings, paddingIndex: layout.positionPaddingIndex(config)))
        // A single segment embedding (RoBERTa's type_vocab_size 1) serves every token.
        let types = config.typeVocabSize == 1 ? [Int](repeating: 0, count: b * t) : batch.tokenTypes
        x = graph.add(x, graph.embedding(types, shape: shape, tokenTypeEmbeddings))
        x = graph.layerNorm(x, weight: embeddingNormWeight, bias: embeddingNormBias, eps: config.layerNormEps)
        x = graph.dropout(x, p: config.hiddenDropout, rng: &rng)
        let heads = config.heads, headDim = h / heads
        let keyMask = n == 0 ? batch.mask : batch.withVirtualPrefix(n).mask
        let mask = AttentionMask(keyIsToken: keyMask.allSatisfy { $0 } ? nil : keyMask)
        let prefix = prefix
        for (index, layer) in layers.enumerated() {
            let run = { [unowned self] (graph: Graph, x: Tensor) -> Tensor in
                let q = graph.linear(x, layer.query)
                var k = graph.linear(x, layer.key)
                var v = graph.linear(x, layer.value)
                if let prefix {
                    k = graph.prependRows(prefix, columns: (2 * index * h)..<((2 * index + 1) * h), to: k, batch: b, length: t)
                    v = graph.prependRows(prefix, columns: ((2 * index + 1) * h)..<((2 * index + 2) * h), to: v, batch: b, length: t)
                }
                var context = graph.attention(
                    q: q, k: k, v: v, batch: b, queryLength: t, keyLength: n + t, heads: heads, kvHeads: heads,
                    headDim: headDim, mask: mask, scale: 1 / Float(headDim).squareRoot())
                context = graph.dropout(graph.linear(context, layer.attentionOutput), p: config.hiddenDropout, rng: &rng)
                let attended = graph.layerNorm(
                    graph.add(context, x), weight: layer.attentionNormWeight, bias: layer.attentionNormBias,
                    eps: config.layerNormEps)
                let inner = graph.gelu(graph.linear(attended, layer.intermediate))
                let out = graph.dropout(graph.linear(inner, layer.output), p: config.hiddenDropout, rng: &rng)
                return graph.layerNorm(
                    graph.add(out, attended), weight: layer.outputNormWeight, bias: layer.outputNormBias, eps: config.layerNormEps)
            }
            x = gradientCheckpointing ? graph.checkpoint(x, run) : run(graph, x)
        }
        return x
    }

    /// `BertForSequenceClassification`: pooler (first token → dense → tanh) → dropout →
    /// classifier; RoBERTa's head drops out before its dense layer too. Returns logits `[B, labels]`.
    public func classify(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let pooler, let classifier else { preconditionFailure("loaded without a classification head") }
        let hidden = encode(graph, batch)
        let length = batch.length + (virtualTokens?.rows ?? 0)
        var first = graph.selectRows(hidden, (0..<batch.batch).map { $0 * length })
        if layout.dropoutBeforeHeadDense { first = graph.dropout(first, p: config.classifierDropout, rng: &rng) }
        let pooled = graph.tanh(graph.linear(first, pooler))
        return graph.linear(graph.dropout(pooled, p: config.classifierDropout, rng: &rng), classifier)
    }

    /// `…ForTokenClassification` (dropout, then `classifier`) and `…ForQuestionAnswering`
    /// (`qa_outputs`, no dropout) on every token: `[B·T, outputs]`, prompt tuning's virtual
    /// tokens left out as PEFT leaves them out.
    public func labelTokens(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        guard let classifier else { preconditionFailure("loaded without a token head") }
        var hidden = encode(graph, batch)
        if let virtual = virtualTokens?.rows {
            let length = batch.length + virtual
            hidden = graph.selectRows(hidden, (0..<batch.batch).flatMap { row in (virtual..<length).map { row * length + $0 } })
        }
        if head == .tokenClassification { hidden = graph.dropout(hidden, p: config.classifierDropout, rng: &rng) }
        return graph.linear(hidden, classifier)
    }
}

extension Bert: AdaptableModel {
    static let layerLinears = LayerLinears<BertLayer>(fields: [
        ("attention.self.query", \.query), ("attention.self.key", \.key), ("attention.self.value", \.value),
        ("attention.output.dense", \.attentionOutput), ("intermediate.dense", \.intermediate), ("output.dense", \.output),
    ])

    public var linearModuleNames: [String] {
        layers.indices.flatMap { Self.layerLinears.names(prefix: layout.prefix + "encoder.layer.\($0).") }
            + (pooler == nil ? [] : [layout.headDense]) + (classificationHeadName.map { [$0] } ?? [])
    }

    public var outputModuleName: String? { nil }
    public var classificationHeadName: String? { classifier == nil ? nil : layout.outputName(of: head) }

    public func linear(named name: String) -> LinearLayer? {
        if name == layout.headDense { return pooler }
        if name == classificationHeadName { return classifier }
        return Self.layerLinears.linear(named: name, in: layers, prefix: layout.prefix + "encoder.layer.")
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == layout.headDense {
            pooler = layer
            return
        }
        if name == classificationHeadName {
            classifier = layer
            return
        }
        Self.layerLinears.setLinear(layer, named: name, in: &layers, prefix: layout.prefix + "encoder.layer.")
    }

    /// A layer's LayerNorm bias by its name inside the layer.
    static func normBiasPath(_ suffix: Substring) -> WritableKeyPath<BertLayer, Tensor>? {
        switch suffix {
        case "attention.output.LayerNorm.bias": \.attentionNormBias
        case "output.LayerNorm.bias": \.outputNormBias
        default: nil
        }
    }

    public var normBiasNames: [String] {
        [layout.prefix + "embeddings.LayerNorm.bias"]
            + layers.indices.flatMap { i in
                ["attention.output.LayerNorm.bias", "output.LayerNorm.bias"].map { layout.prefix + "encoder.layer.\(i).\($0)" }
            }
    }

    public func normBias(named name: String) -> Tensor? {
        if name == layout.prefix + "embeddings.LayerNorm.bias" { return embeddingNormBias }
        guard let (index, suffix) = layerIndex(name, prefix: layout.prefix + "encoder.layer."), layers.indices.contains(index),
            let path = Self.normBiasPath(suffix)
        else { return nil }
        return layers[index][keyPath: path]
    }

    public func setNormBias(_ bias: Tensor, named name: String) {
        if name == layout.prefix + "embeddings.LayerNorm.bias" {
            embeddingNormBias = bias
            return
        }
        guard let (index, suffix) = layerIndex(name, prefix: layout.prefix + "encoder.layer."), layers.indices.contains(index),
            let path = Self.normBiasPath(suffix)
        else { return }
        layers[index][keyPath: path] = bias
    }
}

extension Bert: TransformerModel {
    public var family: any ModelFamily { layout.family }
    public var vocabularySize: Int { config.vocabSize }
    public var labels: [String] { config.labels }
    public var maxPositions: Int { config.maxPositions }
    public var eosTokenIds: [Int] { [] }
    public var tiedOutputModule: String? { nil }
    // BERT's embeddings are widened to f32 (small next to its layers; and fine-tuned with them).
    public var storedTensors: [(name: String, weight: any StoredLinearWeight)] { [] }

    public func padId(using tokenizer: Tokenizer) -> Int {
        tokenizer.configuredPadId ?? tokenizer.id(of: "[PAD]") ?? tokenizer.id(of: "<pad>") ?? config.padTokenId
    }

    public var promptGeometry: PromptGeometry {
        PromptGeometry(
            hiddenSize: config.hiddenSize, layers: config.layers, heads: config.heads, keyValueWidth: config.hiddenSize,
            keyValueHeads: config.heads, maxPositions: config.maxPositions)
    }

    public func reseedDropout(seed: UInt64, step: Int) { rng = RandomGenerator(seed: seed, streams: UInt64(step), 0) }

    public func forward(_ graph: Graph, _ batch: TokenBatch) -> Tensor {
        switch head {
        case .sequenceClassification: classify(graph, batch)
        case .tokenClassification, .questionAnswering: labelTokens(graph, batch)
        case .encoder, .causalLM, .seq2seqLM: encode(graph, batch)
        }
    }
}

/// A family built on ``Bert``'s layers: what differs is its ``EncoderLayout`` and class names;
/// the heads, PEFT's defaults (the same for BERT and RoBERTa in PEFT's mapping) and loading are shared.
public protocol EncoderFamily: ModelFamily {
    /// transformers' class-name prefix: "Bert", "Roberta".
    var classPrefix: String { get }
    var layout: EncoderLayout { get }
}

extension EncoderFamily {
    public var heads: [ModelHead] { [.sequenceClassification, .tokenClassification, .questionAnswering, .encoder] }
    public var defaultHead: ModelHead { .sequenceClassification }
    public var defaultLoRATargets: [String] { ["query", "value"] }
    public var defaultIA3Targets: (targets: [String], feedforward: [String]) { (["key", "value", "output.dense"], ["output.dense"]) }
    // "output.dense" names both the attention output and the feed-forward output.
    public var bottleneckTargets: [String] { ["output.dense"] }

    public func architecture(for head: ModelHead) -> String {
        classPrefix + (head.classSuffix ?? "Model")
    }

    /// A bare encoder checkpoint (`BertModel`, `RobertaModel`) names its tensors without the
    /// prefix: accepted for the classifier.
    public func sanitize(_ weights: WeightStore) { weights.prefixAliases = [(layout.prefix, "")] }

    public func load(
        _ config: ConfigReader, weights: WeightStore, head: ModelHead, trainable: Bool,
        labels: [String]?
    ) throws -> any TransformerModel {
        var encoderConfig = try BertConfig(config)
        if let labels { encoderConfig.labels = labels }
        return try Bert(
            config: encoderConfig, weights: weights, head: head, trainable: trainable, layout: layout)
    }
}

/// BERT encoders (`BertModel`, `BertForSequenceClassification`).
public struct BertFamily: EncoderFamily {
    public init() {}
    public var name: String { "BERT" }
    public var classPrefix: String { "Bert" }
    public var layout: EncoderLayout { .bert }
}
