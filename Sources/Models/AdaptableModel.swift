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
    /// What prompt and prefix tuning size their tables by.
    var promptGeometry: PromptGeometry { get }
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

    /// The Linear module `name` ("prefix.N.field") of `layers`, if it names one.
    func linear(named name: String, in layers: [Layer], prefix: String) -> LinearLayer? {
        guard let (index, suffix) = layerIndex(name, prefix: prefix), layers.indices.contains(index), let path = path(suffix) else {
            return nil
        }
        return layers[index][keyPath: path]
    }

    /// Replaces the Linear module `name` of `layers`; false when it names none.
    @discardableResult
    func setLinear(_ layer: LinearLayer, named name: String, in layers: inout [Layer], prefix: String) -> Bool {
        guard let (index, suffix) = layerIndex(name, prefix: prefix), layers.indices.contains(index), let path = path(suffix) else {
            return false
        }
        layers[index][keyPath: path] = layer
        return true
    }
}

/// Splits "prefix.N.rest" into (N, rest) when `name` starts with `prefix`.
func layerIndex(_ name: String, prefix: String) -> (Int, Substring)? {
    guard name.hasPrefix(prefix) else { return nil }
    let rest = name.dropFirst(prefix.count)
    guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { return nil }
    return (index, rest[rest.index(after: dot)...])
}
