import Models
import TrainingCore

/// Several adapters active together on one base (`--adapter a:0.7 --adapter b:0.3`): each is
/// applied to the layers it targets, after the ones before it, and the updates add up unmerged.
/// A member's weight multiplies a LoRA update (w·s·B·A) and moves an IA3 vector towards 1
/// (1 + w·(l − 1)); other methods have no update to weight and take only 1.
public enum AdapterStack {
    public struct Member: Sendable, Equatable {
        /// What the user wrote (a folder or a registry reference), for messages.
        public var reference: String
        public var weight: Float

        public init(reference: String, weight: Float = 1) {
            self.reference = reference
            self.weight = weight
        }

        /// `NAME` or `NAME:WEIGHT`, as written on a command line.
        public var text: String { weight == 1 ? reference : "\(reference):\(weight)" }

        /// Parses `NAME[:WEIGHT]`: the text after the last colon is a weight when it is a number
        /// (so a folder path with colons still works without one).
        public init(parsing text: String) {
            if let colon = text.lastIndex(of: ":"), let weight = Float(text[text.index(after: colon)...]), colon > text.startIndex {
                self.init(reference: String(text[..<colon]), weight: weight)
            } else {
                self.init(reference: text)
            }
        }
    }

    /// Loads `members` (their files in the same order) into `base`. With `frozen` their tensors
    /// take no gradient: the stack is a fixed part of the model a new adapter trains on top of.
    public static func load(
        _ members: [(member: Member, files: AdapterFiles)], into base: AdaptableModel,
        frozen: Bool = false
    ) throws -> [any PEFTAdapter] {
        var replacedBy: [String: String] = [:]
        var inputChangedBy: String?
        var loaded: [any PEFTAdapter] = []
        for (member, files) in members {
            let before = LayerSnapshot(base)
            let adapter = try PEFTAdapterFolder.loadAny(files, into: base)
            // A module one member trains in full (modules_to_save: the head) or a bias it trains
            // (bias="all"/"lora_only"), replaced by another, would silently drop the first; PEFT
            // refuses the same in add_weighted_adapter.
            for name in before.replacedLayers(in: base) + before.replacedNormBiases(in: base) {
                if let earlier = replacedBy[name] {
                    throw AdapterError(
                        file: files.label,
                        "\(member.reference) and \(earlier) both replace \(name) "
                            + "(modules_to_save or a trained bias); a stack can hold one of them")
                }
                replacedBy[name] = member.reference
            }
            if adapter is PromptTuningModel || adapter is PrefixTuningModel {
                if let earlier = inputChangedBy {
                    throw AdapterError(
                        file: files.label,
                        "\(member.reference) and \(earlier) are both prompt or prefix tuning; "
                            + "a stack can hold one")
                }
                inputChangedBy = member.reference
            }
            try applyWeight(member, to: adapter, file: files.label)
            if frozen { adapter.trainableParameters.forEach { $0.1.requiresGrad = false } }
            loaded.append(adapter)
        }
        return loaded
    }

    static func applyWeight(_ member: Member, to adapter: any PEFTAdapter, file: String) throws {
        guard member.weight != 1 else { return }
        guard member.weight.isFinite else {
            throw AdapterError(file: file, "\(member.reference): weight \(member.weight) is not a finite number")
        }
        switch adapter {
        case let lora as LoRAModel where !lora.config.useDoRA:
            lora.layers.forEach { $0.1.stackWeight = member.weight }
        case let ia3 as IA3Model:
            ia3.layers.forEach { $0.1.applyStackWeight(member.weight) }
        default:
            throw AdapterError(
                file: file,
                "\(member.reference): a \(adapter.peftType)"
                    + "\((adapter as? LoRAModel)?.config.useDoRA == true ? " (DoRA)" : "") "
                    + "adapter takes no stack weight other than 1 (LoRA and IA3 do)")
        }
    }
}

/// Which tensors each Linear layer and norm bias holds, to see what loading an adapter replaced (a
/// head trained in full, a PiSSA residual, a trained bias) as opposed to adapters it appended.
struct LayerSnapshot {
    struct Entry: Equatable {
        var weight: ObjectIdentifier?
        var bias: ObjectIdentifier?
    }
    let entries: [String: Entry]
    let normBiases: [String: Tensor]

    init(_ base: AdaptableModel) {
        var entries: [String: Entry] = [:]
        for name in base.linearModuleNames {
            guard let layer = base.linear(named: name) else { continue }
            entries[name] = Self.entry(layer)
        }
        self.entries = entries
        normBiases = Dictionary(
            uniqueKeysWithValues: base.normBiasNames.compactMap { name in
                base.normBias(named: name).map { (name, $0) }
            })
    }

    /// Norm biases (LayerNorm's, trained by bias="all") that are no longer the tensor they were.
    func replacedNormBiases(in base: AdaptableModel) -> [String] {
        base.normBiasNames.filter { name in normBiases[name].map { base.normBias(named: name) !== $0 } ?? false }
    }

    /// Puts the norm biases back as they were.
    func restoreNormBiases(in base: AdaptableModel) {
        for (name, bias) in normBiases { base.setNormBias(bias, named: name) }
    }

    static func entry(_ layer: LinearLayer) -> Entry {
        let weight: ObjectIdentifier?
        switch layer.weight {
        case .dense(let tensor): weight = ObjectIdentifier(tensor)
        case .half(let stored): weight = ObjectIdentifier(stored)
        case .quantized: weight = nil
        }
        return Entry(weight: weight, bias: layer.bias.map { ObjectIdentifier($0) })
    }

    /// Layers whose weight or bias is no longer the tensor it was.
    func replacedLayers(in base: AdaptableModel) -> [String] {
        base.linearModuleNames.filter { name in
            guard let old = entries[name], let layer = base.linear(named: name) else { return false }
            return Self.entry(layer) != old
        }
    }
}
