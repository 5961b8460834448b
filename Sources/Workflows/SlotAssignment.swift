import Adapters

/// Turns the adapter each input line (or request) names into a slot of a switchable model,
/// attaching every distinct stack once: no name uses the model's default slot, "" the plain base.
public enum SlotAssignment {
    public static func slots(for names: [String?], in slots: AdapterSlots, resolver: AdapterResolver) throws -> [Int] {
        try names.map { name in
            guard let name else { return slots.defaultSlot }
            if name.isEmpty { return AdapterSlots.base }
            if let slot = slots.slot(named: name) { return slot }
            return try slots.attach(name, resolver.resolveStack(name))
        }
    }
}
