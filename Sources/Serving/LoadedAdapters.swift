import Adapters
import Foundation
import Workflows

/// The adapters attached to the served model, least recently used first out: a request naming
/// one not attached loads it (from a folder given to `/v1/load_lora_adapter` or `--adapter`, else
/// from the registry), and past `capacity` the least recently used one that no running request holds is
/// detached. Only the engine thread touches it.
final class LoadedAdapters {
    struct Entry {
        var slot: Int
        var lastUse: UInt64
        /// Running requests using it: while any does, it is never evicted.
        var holders: Int
    }

    let slots: AdapterSlots
    let resolver: AdapterResolver
    let capacity: Int
    /// Names the base answers to: "", the served model name, the model folder.
    let baseNames: Set<String>
    private(set) var entries: [String: Entry] = [:]
    /// Folders registered by `/v1/load_lora_adapter`, by the name given there.
    private(set) var folders: [String: String] = [:]
    private var clock: UInt64 = 0
    private let metrics: ServerMetrics

    init(slots: AdapterSlots, resolver: AdapterResolver, capacity: Int, baseNames: Set<String>, metrics: ServerMetrics) {
        (self.slots, self.resolver, self.capacity, self.baseNames, self.metrics) = (slots, resolver, capacity, baseNames, metrics)
    }

    /// The slot for `name` (the base's slot for a base name), attached if needed and held until
    /// ``release(_:)``; nil when every slot is held by running requests (the caller waits).
    func acquire(_ name: String) throws -> Int? {
        if baseNames.contains(name) { return AdapterSlots.base }
        clock += 1
        if var entry = entries[name] {
            entry.holders += 1
            entry.lastUse = clock
            entries[name] = entry
            return entry.slot
        }
        let members = try resolve(name)
        guard makeRoom() else { return nil }
        let slot: Int
        do {
            slot = try slots.attach(name, members)
        } catch {
            throw ServingError(
                status: 400, "cannot load adapter `\(name)`: \(error)", type: "invalid_request_error", code: "adapter_load_failed")
        }
        entries[name] = Entry(slot: slot, lastUse: clock, holders: 1)
        metrics.adapterLoads.increment()
        metrics.adaptersLoaded.record(Double(entries.count))
        return slot
    }

    func release(_ name: String) {
        guard var entry = entries[name] else { return }
        entry.holders = max(0, entry.holders - 1)
        entries[name] = entry
    }

    /// `/v1/load_lora_adapter`: `name` now means the adapter in `folder`, attached at once.
    func register(_ name: String, folder: String) throws {
        guard !name.isEmpty, !baseNames.contains(name) else {
            throw ServingError.invalid("`\(name)` names the base model", param: "lora_name")
        }
        guard !name.contains("+") else { throw ServingError.invalid("an adapter name cannot contain `+`", param: "lora_name") }
        if folders[name] != nil || entries[name] != nil {
            throw ServingError(
                status: 400, "The lora adapter `\(name)` has already been loaded", type: "invalid_request_error", code: "already_loaded",
                param: "lora_name")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw ServingError(
                status: 404, "\(folder): no such adapter folder", type: "invalid_request_error", code: "not_found", param: "lora_path")
        }
        folders[name] = folder
        do {
            guard try acquire(name) != nil else {
                folders[name] = nil
                throw ServingError(status: 503, "every adapter slot is in use by running requests", type: "server_error", retryAfter: 1)
            }
        } catch {
            folders[name] = nil
            throw error
        }
        release(name)
    }

    /// `/v1/unload_lora_adapter`: detaches `name` (and forgets its folder).
    func unload(_ name: String) throws {
        guard entries[name] != nil || folders[name] != nil else {
            throw ServingError(
                status: 404, "The lora adapter `\(name)` cannot be found", type: "invalid_request_error", code: "not_found",
                param: "lora_name")
        }
        if let entry = entries[name] {
            guard entry.holders == 0 else {
                throw ServingError(
                    status: 409, "adapter `\(name)` is in use by \(entry.holders) running request(s); retry when they finish",
                    type: "invalid_request_error", code: "in_use", retryAfter: 1)
            }
            slots.detach(entry.slot)
            entries[name] = nil
        }
        folders[name] = nil
        metrics.adaptersLoaded.record(Double(entries.count))
    }

    /// Detaches least recently used, unheld adapters until one more fits.
    private func makeRoom() -> Bool {
        while entries.count >= capacity {
            guard let victim = entries.filter({ $0.value.holders == 0 }).min(by: { $0.value.lastUse < $1.value.lastUse }) else {
                return false
            }
            slots.detach(victim.value.slot)
            entries[victim.key] = nil
            metrics.adapterEvictions.increment()
        }
        return true
    }

    /// The members of the stack `name` (`a`, `a@prod`, `a:0.7+b:0.3`), each a registered folder,
    /// an adapter folder or a registry reference; a member that is none of them is a 404.
    private func resolve(_ name: String) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        try name.split(separator: "+", omittingEmptySubsequences: false).map { text in
            var member = AdapterStack.Member(parsing: String(text))
            // A request names registry adapters and folders an operator registered, never a path
            // of its own: a client cannot make the server read arbitrary folders.
            if let folder = folders[member.reference] {
                member = AdapterStack.Member(reference: folder, weight: member.weight)
            } else {
                let known: Bool
                do { known = try resolver.registryHas(member.reference) } catch {
                    throw ServingError(status: 503, "the adapter registry cannot be read: \(error)", type: "server_error", retryAfter: 1)
                }
                guard known else {
                    throw ServingError.modelNotFound(name, "no loaded adapter or registry adapter is called `\(member.reference)`")
                }
            }
            do {
                return try resolver.resolve(member)
            } catch {
                throw ServingError(
                    status: 400, "cannot load adapter `\(name)`: \(error)", type: "invalid_request_error", code: "adapter_load_failed")
            }
        }
    }
}
