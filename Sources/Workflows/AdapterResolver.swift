import Adapters
import Foundation
import Registry

/// Finds adapters by what users call them: a PEFT folder, else a registry reference (NAME,
/// NAME@N, NAME@TAG) whose base fingerprint is checked against the model first, or a weighted
/// stack of either (`a:0.7+b:0.3`). The registry is opened, and the model fingerprinted, once and
/// only when a reference needs it. The CLI and a server resolve through this one type.
public final class AdapterResolver {
    public let model: String
    public let registryRoot: String
    /// Apply registry adapters trained on another base anyway.
    public let force: Bool
    private var store: AdapterStore?
    private var fingerprint: String?

    public init(model: String, registryRoot: String, force: Bool) {
        self.model = model
        self.registryRoot = registryRoot
        self.force = force
    }

    public func resolve(_ member: AdapterStack.Member) throws -> (member: AdapterStack.Member, files: AdapterFiles) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: member.reference, isDirectory: &isFolder), isFolder.boolValue {
            return (member, try AdapterFiles(folder: member.reference))
        }
        let store = try openStore()
        try store.checkBase(member.reference, modelFolder: model, fingerprint: try modelFingerprint(), force: force)
        return (member, try AdapterFiles(files: store.files(member.reference), label: member.reference))
    }

    /// Each `REF[:WEIGHT]` of `references` (a command line's repeated `--adapter`), as one stack.
    public func resolve(references: [String]) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        try references.map { try resolve(AdapterStack.Member(parsing: $0)) }
    }

    /// A stack written `a:0.7+b:0.3` (as a JSONL line or a request may name one).
    public func resolveStack(_ text: String) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        try resolve(references: text.split(separator: "+").map(String.init))
    }

    /// Whether the registry holds the version `reference` names (a server tells "no such adapter"
    /// from "that adapter is broken" with it); a registry that cannot be read throws.
    public func registryHas(_ reference: String) throws -> Bool {
        guard AdapterStore.mayExist(registryRoot), (try? AdapterReference(parsing: reference)) != nil else { return false }
        return try openStore().find(reference) != nil
    }

    /// Every adapter version in the registry (none when it has no index yet).
    public func registryVersions() throws -> [AdapterStore.Version] {
        guard AdapterStore.mayExist(registryRoot) else { return [] }
        return try openStore().list()
    }

    private func openStore() throws -> AdapterStore {
        if let store { return store }
        let opened = try AdapterStore(root: registryRoot)
        store = opened
        return opened
    }

    private func modelFingerprint() throws -> String {
        if let fingerprint { return fingerprint }
        let computed = try BaseFingerprint.compute(folder: model)
        fingerprint = computed
        return computed
    }
}
