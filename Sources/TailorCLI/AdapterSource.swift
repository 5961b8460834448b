import Foundation
import Registry

import ArgumentParser

/// `--adapter`, `--force` and `--registry`, as every command that applies one adapter takes them.
struct AdapterOptions: ParsableArguments {
    @Option(help: "A PEFT adapter folder, or a registry reference (NAME, NAME@N, NAME@TAG) when no such folder exists.")
    var adapter: String?
    @Flag(help: "Apply a registry adapter even if it was trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions

    func source(model: String) throws -> AdapterSource {
        try AdapterSource(adapter, model: model, registry: registryOptions, force: force)
    }
}

/// What `--adapter` names: a PEFT folder, or, when no such folder exists, a registry reference
/// (NAME, NAME@N, NAME@TAG) exported to a temporary folder for the command's lifetime after its
/// base fingerprint is checked against `--model`.
final class AdapterSource {
    let path: String?
    private let temporary: String?

    init(_ adapter: String?, model: String, registry: RegistryOptions, force: Bool) throws {
        var isFolder: ObjCBool = false
        guard let adapter, !(FileManager.default.fileExists(atPath: adapter, isDirectory: &isFolder) && isFolder.boolValue) else {
            path = adapter
            temporary = nil
            return
        }
        let store = try registry.open()
        try store.checkBase(adapter, modelFolder: model, force: force)
        let folder = NSTemporaryDirectory() + "tailor-adapter-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try store.export(adapter, to: folder)
        path = folder
        temporary = folder
    }

    deinit {
        if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
    }
}
