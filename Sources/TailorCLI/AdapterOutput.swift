import Adapters
import ArgumentParser
import Foundation
import Registry

/// Where a command that makes a new adapter (merge, extract) puts it: a PEFT folder at
/// `--output` (written whole or not at all), a registry version under `--name`, or both.
struct AdapterOutputOptions: ParsableArguments {
    @Option(help: "The folder to create.") var output: String?
    @Option(help: "Store the adapter in the registry under this name.") var name: String?
    @Option(help: "Tags for the registered version (repeatable).") var tag: [String] = []

    func validate() throws {
        guard output != nil || name != nil else { throw ValidationError("give --output DIR and/or --name NEW for the new adapter") }
        if let name { do { try AdapterStore.checkName(name) } catch { throw ValidationError("--name: \(error)") } }
        for tag in tag { do { try AdapterStore.checkName(tag, what: "tag") } catch { throw ValidationError("--tag: \(error)") } }
    }

    /// Saves `adapter` (with its label names) as asked; `base` is the model folder whose
    /// fingerprint the registry records, when known.
    func save(_ adapter: any PEFTAdapter, labels: [String]?, base: String?, registry: RegistryOptions) throws -> AdapterStore.Version? {
        if let output { guard !FileManager.default.fileExists(atPath: output) else { throw UsageProblem(description: "\(output): already exists") } }
        let folder = output ?? NSTemporaryDirectory() + "tailor-adapter-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        let scratch = folder + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: scratch)
        do {
            try PEFTAdapterFolder.save(adapter, to: scratch)
            if let labels { try PEFTAdapterFolder.saveLabels(labels, in: scratch) }
            guard rename(scratch, folder) == 0 else { throw UsageProblem(description: "\(folder): cannot move the adapter into place") }
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
        defer { if output == nil { try? FileManager.default.removeItem(atPath: folder) } }
        guard let name else { return nil }
        return try registry.open().add(folder: folder, name: name, tags: tag, base: base)
    }
}
