import Adapters

/// Turns the adapter each input line names into a slot of a switchable model, attaching every
/// distinct stack once. A line without one uses `--adapter` (slot 0, or the base without it);
/// "" is the base.
enum SlotAssignment {
    static func slots(for names: [String?], in slots: AdapterSlots, defaultStack: AdapterOptions, model: String) throws -> [Int] {
        let resolver = AdapterResolver(model: model, registry: defaultStack.registryOptions, force: defaultStack.force)
        let defaultSlot = defaultStack.adapter.isEmpty ? -1 : 0
        return try names.map { name in
            guard let name else { return defaultSlot }
            if name.isEmpty { return -1 }
            if let slot = slots.slot(named: name) { return slot }
            return try slots.attach(name, resolver.resolveStack(name))
        }
    }
}
