import Models
import TrainingCore

/// The one adapter a switchable model's Linear layer carries: per slot, what that slot's adapters
/// do to this layer (LoRA, DoRA and IA3 updates, a replaced weight such as a head trained in full).
/// Rows are grouped by the slots the forward pass carries (``Graph/adapterSlots``); each group's
/// adapters run on its rows only, against the shared base output, so a batch can mix adapters
/// without copying or merging the base weight, and passes with different routing can interleave.
public final class RoutedLinear: LinearAdapter, @unchecked Sendable {
    struct Slot {
        var adapters: [any LinearAdapter]
        /// The layer this slot computes instead of the base one (weight and/or bias replaced).
        var replacement: LinearLayer?
    }

    /// The base layer without adapters, for slots that replace it or change its input.
    let base: LinearLayer
    var slots: [Int: Slot] = [:]

    init(base: LinearLayer) {
        var plain = base
        plain.adapters = []
        self.base = plain
    }

    public func apply(_ graph: Graph, input x: Tensor, baseOutput y: Tensor) -> Tensor {
        let sequences = graph.adapterSlots
        if sequences.isEmpty { return y }
        precondition(x.rows % sequences.count == 0, "routed layer: \(x.rows) rows for \(sequences.count) sequences")
        let rowsPerSequence = x.rows / sequences.count
        var rowsOfSlot: [Int: [Int]] = [:]
        for (sequence, slot) in sequences.enumerated() where slots[slot] != nil {
            rowsOfSlot[slot, default: []].append(contentsOf: (sequence * rowsPerSequence)..<((sequence + 1) * rowsPerSequence))
        }
        if rowsOfSlot.count == 1, let (slot, rows) = rowsOfSlot.first, rows.count == x.rows { return run(slot, graph, x, y) }
        guard !rowsOfSlot.isEmpty else { return y }
        // The gather and scatter below record no backward: mixed batches are for inference.
        precondition(!graph.recording, "a batch mixing adapter slots is inference only")
        let parts = rowsOfSlot.sorted { $0.key < $1.key }.map { slot, rows in (rows, run(slot, graph, gather(x, rows), gather(y, rows))) }
        // A head replaced by one with another number of outputs (another task's labels) can
        // share a batch only with rows whose heads have that width too.
        let width = parts[0].1.columns
        let routedRows = parts.reduce(0) { $0 + $1.0.count }
        precondition(
            parts.allSatisfy { $0.1.columns == width } && (width == y.columns || routedRows == x.rows),
            "rows routed to heads with different numbers of outputs share a batch")
        let out = Tensor(uninitialized: Array(y.shape.dropLast()) + [width])
        if routedRows < x.rows { out.data.update(from: y.data, count: y.count) }
        for (rows, part) in parts {
            for (i, row) in rows.enumerated() { (out.data + row * width).update(from: part.data + i * width, count: width) }
        }
        return out
    }

    private func run(_ slot: Int, _ graph: Graph, _ x: Tensor, _ y: Tensor) -> Tensor {
        guard let entry = slots[slot] else { return y }
        var output = y
        if entry.replacement != nil || entry.adapters.contains(where: \.changesInput) {
            var layer = entry.replacement ?? base
            layer.adapters = entry.adapters
            return graph.linear(x, layer)
        }
        for adapter in entry.adapters { output = adapter.apply(graph, input: x, baseOutput: output) }
        return output
    }

    private func gather(_ t: Tensor, _ rows: [Int]) -> Tensor {
        let columns = t.columns
        let part = Tensor(uninitialized: [rows.count, columns])
        for (i, row) in rows.enumerated() { (part.data + i * columns).update(from: t.data + row * columns, count: columns) }
        return part
    }
}

/// A base model loaded once with any number of adapter stacks attached as slots, chosen per
/// sequence by each forward pass (``Graph/adapterSlots``; none given: the plain base). Attaching loads a stack into the base as
/// usual, then moves what it added into each layer's ``RoutedLinear`` and puts the base back, so
/// every loader (LoRA, DoRA, IA3, heads in modules_to_save) serves here unchanged.
public final class AdapterSlots {
    public let base: AdaptableModel
    private var routers: [String: RoutedLinear] = [:]
    /// The layers as the base has them, with their router attached.
    private var originals: [String: LinearLayer] = [:]
    /// The base's norm biases, put back after each attach.
    private let originalNorms: LayerSnapshot
    /// Each slot's name; nil for a slot freed by ``detach(_:)`` (reused by the next attach).
    public private(set) var names: [String?] = []
    /// Each slot's label names (from its first member that has them).
    public private(set) var labels: [[String]?] = []

    public init(base: AdaptableModel) {
        self.base = base
        originalNorms = LayerSnapshot(base)
        for name in base.linearModuleNames {
            base.updateLinear(name) { layer in
                let router = RoutedLinear(base: layer)
                layer.adapters = [router]
                routers[name] = router
                originals[name] = layer
            }
        }
    }

    /// The number of outputs slot `slot` gives module `module` when it replaces that layer (a
    /// head for another task's labels); nil when the slot keeps the base layer's.
    public func outFeatures(of module: String, slot: Int) -> Int? {
        routers[module]?.slots[slot]?.replacement?.outFeatures
    }

    /// Whether `slot` is attached or is the plain base (−1).
    public func contains(_ slot: Int) -> Bool { slot == Self.base || (names.indices.contains(slot) && names[slot] != nil) }

    /// The number of stacks attached now.
    public var attachedCount: Int { names.lazy.filter { $0 != nil }.count }

    /// The slot of the plain base: rows routed here get no adapter.
    public static let base = -1

    /// The slot a caller uses when a request names none: the stack given to ``serve`` (slot 0),
    /// or the plain base (−1).
    public private(set) var defaultSlot = AdapterSlots.base

    /// Puts `stack` on `base` for a classifier or generator: loaded into the base directly, or,
    /// with `switching`, as slot 0 of a new switchable model (its ``defaultSlot``).
    public static func serve(
        _ stack: [(member: AdapterStack.Member, files: AdapterFiles)], on base: AdaptableModel,
        switching: Bool
    ) throws -> AdapterSlots? {
        guard switching else {
            _ = try AdapterStack.load(stack, into: base)
            return nil
        }
        let slots = AdapterSlots(base: base)
        if !stack.isEmpty { try slots.attach(stack.map(\.member.text).joined(separator: "+"), stack) }
        slots.defaultSlot = stack.isEmpty ? Self.base : 0
        return slots
    }

    /// The slot index of `name`, if attached.
    public func slot(named name: String) -> Int? { names.firstIndex(of: name) }

    /// Attaches a stack under `name`; returns its slot.
    @discardableResult
    public func attach(_ name: String, _ members: [(member: AdapterStack.Member, files: AdapterFiles)]) throws -> Int {
        let slot = names.firstIndex(of: nil) ?? names.count
        let before = LayerSnapshot(base)
        defer { restoreBase() }
        let adapters = try AdapterStack.load(members, into: base)
        if let prompt = zip(members, adapters).first(where: { $0.1 is PromptTuningModel || $0.1 is PrefixTuningModel }) {
            throw AdapterError(
                file: prompt.0.files.label,
                "\(prompt.0.member.reference) is \(prompt.1.peftType): it changes the input "
                    + "sequence, so it cannot be switched per row; apply it alone, to the whole batch")
        }
        // A norm is no Linear layer with a router: its bias cannot differ between rows of a batch.
        if let norm = before.replacedNormBiases(in: base).first {
            let owner = zip(members, adapters).first { $0.1.savedTensors.contains { $0.0 == "base_model.model." + norm } }?.0 ?? members[0]
            throw AdapterError(
                file: owner.files.label,
                "\(owner.member.reference) trains \(norm) (bias=\"all\"), which every row of a "
                    + "batch shares, so it cannot be switched per row; apply it alone, to the whole batch")
        }
        let replaced = Set(before.replacedLayers(in: base))
        for name in base.linearModuleNames {
            guard let layer = base.linear(named: name), let router = routers[name] else { continue }
            let added = Array(layer.adapters.dropFirst())
            let replacement = replaced.contains(name) ? LinearLayer(weight: layer.weight, bias: layer.bias) : nil
            if !added.isEmpty || replacement != nil { router.slots[slot] = RoutedLinear.Slot(adapters: added, replacement: replacement) }
        }
        let labelNames = members.lazy.compactMap(\.files.labels).first
        if slot == names.count {
            names.append(name)
            labels.append(labelNames)
        } else {
            names[slot] = name
            labels[slot] = labelNames
        }
        return slot
    }

    /// Frees `slot`: its adapters leave every layer (their memory with them) and the index is
    /// reused by the next ``attach(_:_:)``. A pass still routing rows to it would get the base, so
    /// callers detach only slots no running sequence uses (a server's least recently used one).
    public func detach(_ slot: Int) {
        guard slot != Self.base, names.indices.contains(slot), names[slot] != nil else { return }
        for router in routers.values { router.slots[slot] = nil }
        names[slot] = nil
        labels[slot] = nil
        if defaultSlot == slot { defaultSlot = Self.base }
    }

    /// Puts every layer back as the base has it (router attached, nothing else).
    private func restoreBase() {
        for (name, layer) in originals { base.setLinear(layer, named: name) }
        originalNorms.restoreNormBiases(in: base)
        base.virtualTokens = nil
        base.prefix = nil
    }
}
