import TrainingCore

/// A model whose Linear layers can be found and changed by their Hugging Face module name
/// (`bert.encoder.layer.0.attention.self.query`, `model.layers.3.self_attn.q_proj`), which is how
/// PEFT adapters name the layers they change.
public protocol AdaptableModel: AnyObject {
    /// Every Linear module, in model order.
    var linearModuleNames: [String] { get }
    func linear(named name: String) -> LinearLayer?
    func setLinear(_ layer: LinearLayer, named name: String)
    /// The output-embedding layer PEFT's "all-linear" leaves out (`lm_head`); nil for
    /// classification models, whose head PEFT does include.
    var outputModuleName: String? { get }
    /// The classification head (BERT's `classifier`, Llama's `score`), nil without one: the only
    /// layer whose number of outputs an adapter may change (another task's labels).
    var classificationHeadName: String? { get }
    /// Weights the checkpoint lacked that were initialised at random when loading.
    var newlyInitialized: [String] { get }
    /// Prompt tuning's virtual token embeddings `[n, C]`, nil without.
    var virtualTokens: Tensor? { get set }
    /// Prefix tuning's per-layer keys and values, nil without.
    var prefix: Tensor? { get set }
    /// The biases outside Linear layers (BERT's LayerNorm biases) by Hugging Face parameter name,
    /// in model order: PEFT's bias="all" trains and saves these along with every Linear bias.
    var normBiasNames: [String] { get }
    func normBias(named name: String) -> Tensor?
    func setNormBias(_ bias: Tensor, named name: String)
}

extension AdaptableModel {
    /// Applies `body` to the layer named `name`; false when there is no such layer.
    @discardableResult
    public func updateLinear(_ name: String, _ body: (inout LinearLayer) throws -> Void) rethrows -> Bool {
        guard var layer = linear(named: name) else { return false }
        try body(&layer)
        setLinear(layer, named: name)
        return true
    }
}

/// Field paths of an encoder/decoder layer's Linear modules, by their name inside the layer.
struct LayerLinears<Layer>: @unchecked Sendable {
    let fields: [(String, WritableKeyPath<Layer, LinearLayer>)]

    func names(prefix: String) -> [String] { fields.map { prefix + $0.0 } }

    func path(_ suffix: Substring) -> WritableKeyPath<Layer, LinearLayer>? {
        fields.first { $0.0 == suffix }?.1
    }
}

/// Splits "prefix.N.rest" into (N, rest) when `name` starts with `prefix`.
func layerIndex(_ name: String, prefix: String) -> (Int, Substring)? {
    guard name.hasPrefix(prefix) else { return nil }
    let rest = name.dropFirst(prefix.count)
    guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { return nil }
    return (index, rest[rest.index(after: dot)...])
}

extension Bert: AdaptableModel {
    static let layerLinears = LayerLinears<BertLayer>(fields: [
        ("attention.self.query", \.query), ("attention.self.key", \.key), ("attention.self.value", \.value),
        ("attention.output.dense", \.attentionOutput), ("intermediate.dense", \.intermediate), ("output.dense", \.output),
    ])

    public var linearModuleNames: [String] {
        layers.indices.flatMap { Self.layerLinears.names(prefix: "bert.encoder.layer.\($0).") }
            + (pooler == nil ? [] : ["bert.pooler.dense"]) + (classifier == nil ? [] : ["classifier"])
    }

    public var outputModuleName: String? { nil }
    public var classificationHeadName: String? { classifier == nil ? nil : "classifier" }

    public func linear(named name: String) -> LinearLayer? {
        if name == "bert.pooler.dense" { return pooler }
        if name == "classifier" { return classifier }
        guard let (index, suffix) = layerIndex(name, prefix: "bert.encoder.layer."), layers.indices.contains(index),
              let path = Self.layerLinears.path(suffix) else { return nil }
        return layers[index][keyPath: path]
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == "bert.pooler.dense" { pooler = layer; return }
        if name == "classifier" { classifier = layer; return }
        guard let (index, suffix) = layerIndex(name, prefix: "bert.encoder.layer."), layers.indices.contains(index),
              let path = Self.layerLinears.path(suffix) else { return }
        layers[index][keyPath: path] = layer
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
        ["bert.embeddings.LayerNorm.bias"] + layers.indices.flatMap { i in
            ["attention.output.LayerNorm.bias", "output.LayerNorm.bias"].map { "bert.encoder.layer.\(i).\($0)" }
        }
    }

    public func normBias(named name: String) -> Tensor? {
        if name == "bert.embeddings.LayerNorm.bias" { return embeddingNormBias }
        guard let (index, suffix) = layerIndex(name, prefix: "bert.encoder.layer."), layers.indices.contains(index),
              let path = Self.normBiasPath(suffix) else { return nil }
        return layers[index][keyPath: path]
    }

    public func setNormBias(_ bias: Tensor, named name: String) {
        if name == "bert.embeddings.LayerNorm.bias" { embeddingNormBias = bias; return }
        guard let (index, suffix) = layerIndex(name, prefix: "bert.encoder.layer."), layers.indices.contains(index),
              let path = Self.normBiasPath(suffix) else { return }
        layers[index][keyPath: path] = bias
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
        guard let (index, suffix) = layerIndex(name, prefix: "model.layers."), layers.indices.contains(index),
              let path = Self.layerLinears.path(suffix) else { return nil }
        return layers[index][keyPath: path]
    }

    public func setLinear(_ layer: LinearLayer, named name: String) {
        if name == "lm_head" { lmHead = layer; return }
        if name == "score" { score = layer; return }
        guard let (index, suffix) = layerIndex(name, prefix: "model.layers."), layers.indices.contains(index),
              let path = Self.layerLinears.path(suffix) else { return }
        layers[index][keyPath: path] = layer
    }

    // RMSNorm has no bias: every bias of the family (Qwen2's q/k/v, attention_bias, mlp_bias) is a Linear's.
    public var normBiasNames: [String] { [] }
    public func normBias(named name: String) -> Tensor? { nil }
    public func setNormBias(_ bias: Tensor, named name: String) {}
}

extension LoadedModel {
    /// The model as adapters see it.
    public var adaptable: AdaptableModel {
        switch self {
        case .bert(let bert): return bert
        case .llama(let llama): return llama
        }
    }
}
