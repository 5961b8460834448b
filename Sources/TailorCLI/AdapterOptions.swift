import Adapters
import ArgumentParser
import Foundation
import Registry

/// `--adapter` (repeatable: a weighted stack), `--force` and `--registry`, as every command that
/// applies adapters takes them.
struct AdapterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("An adapter: a PEFT folder, or a registry reference (NAME, NAME@N, NAME@TAG) when no such folder exists; "
                               + "NAME:WEIGHT weights it. Repeat to stack adapters (outputs summed).", valueName: "adapter[:weight]"))
    var adapter: [String] = []
    @Flag(help: "Apply a registry adapter even if it was trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions

    /// The stack `--adapter` names, each member's files read (registry versions in memory).
    func stack(model: String) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        let resolver = AdapterResolver(model: model, registry: registryOptions, force: force)
        return try adapter.map { try resolver.resolve(AdapterStack.Member(parsing: $0)) }
    }
}

/// Finds adapters by what users call them: a folder, else a registry reference whose base
/// fingerprint is checked against the model first. The registry is opened once, when needed.
final class AdapterResolver {
    let model: String
    let registry: RegistryOptions
    let force: Bool
    private var store: AdapterStore?
    private var fingerprint: String?

    init(model: String, registry: RegistryOptions, force: Bool) {
        self.model = model
        self.registry = registry
        self.force = force
    }

    func resolve(_ member: AdapterStack.Member) throws -> (member: AdapterStack.Member, files: AdapterFiles) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: member.reference, isDirectory: &isFolder), isFolder.boolValue {
            return (member, try AdapterFiles(folder: member.reference))
        }
        if store == nil { store = try registry.open() }
        try store!.checkBase(member.reference, modelFolder: model, fingerprint: try modelFingerprint(), force: force)
        return (member, try AdapterFiles(files: store!.files(member.reference), label: member.reference))
    }

    private func modelFingerprint() throws -> String {
        if let fingerprint { return fingerprint }
        let computed = try BaseFingerprint.compute(folder: model)
        fingerprint = computed
        return computed
    }

    /// A stack written `a:0.7+b:0.3` (as a JSONL line may name one).
    func resolveStack(_ text: String) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        try text.split(separator: "+").map { try resolve(AdapterStack.Member(parsing: String($0))) }
    }
}
