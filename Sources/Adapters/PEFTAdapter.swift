import TrainingCore

/// An adapter in PEFT's folder format, whatever its method: what it trains (under the keys PEFT
/// saves) and the config text it writes.
public protocol PEFTAdapter: AnyObject {
    /// `peft_type` as PEFT spells it ("LORA", "IA3", …).
    var peftType: String { get }
    /// Every trainable tensor under its saved key.
    var trainableParameters: [(String, Tensor)] { get }
    /// The number of parameters the adapter adds to the base (not counting modules_to_save).
    var addedParameterCount: Int { get }
    /// adapter_config.json as PEFT writes it (no trailing newline).
    func configText() -> String
    /// Every tensor the adapter file holds: the trainable ones and any PEFT saves besides them.
    var savedTensors: [(String, Tensor)] { get }
}

extension PEFTAdapter {
    public var savedTensors: [(String, Tensor)] { trainableParameters }
}

extension LoRAModel: PEFTAdapter {
    public var peftType: String { "LORA" }
    public var addedParameterCount: Int { layers.reduce(0) { $0 + $1.1.a.count + $1.1.b.count + ($1.1.magnitude?.count ?? 0) } }
    public func configText() -> String { String(config.jsonText().dropLast()) }
    public var savedTensors: [(String, Tensor)] { trainableParameters + savedCopies }
}
