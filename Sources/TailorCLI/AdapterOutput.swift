import Adapters
import ArgumentParser
import Foundation
import Registry
import SafeTensors

/// Where a command that makes a new adapter (merge, extract) puts it: a PEFT folder at
/// `--output` (written whole or not at all), a registry version under `--name`, or both.
struct AdapterOutputOptions: ParsableArguments {
    @Option(help: "The folder to create.") var output: String?
    @Option(help: "Store the adapter in the registry under this name.") var name: String?
    @Option(help: "Tags for the registered version (repeatable).") var tag: [String] = []

    func validate() throws {
        guard output != nil || name != nil else { throw ValidationError("give --output DIR and/or --name NEW for the new adapter") }
        if let name { do { try AdapterStore.checkName(name) } catch { throw ValidationError("--name: \(error)") } }
        for tag in tag { do { try AdapterStore.checkTag(tag) } catch { throw ValidationError("--tag: \(error)") } }
    }

    /// Refuses an `--output` that exists; commands call it before their work, too.
    func checkOutputFree() throws {
        if let output, FileManager.default.fileExists(atPath: output) { throw UsageProblem(description: "\(output): already exists") }
    }

    /// Saves `adapter` (with its label names) as asked; `base` is the model folder whose
    /// fingerprint the registry records, when known.
    func save(_ adapter: any PEFTAdapter, labels: [String]?, base: String?, registry: RegistryOptions) throws -> AdapterStore.Version? {
        try checkOutputFree()
        let folder = output ?? NSTemporaryDirectory() + "tailor-adapter-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try ScratchFolder.build(folder) { scratch in try PEFTAdapterFolder.save(adapter, to: scratch, labels: labels) }
        defer { if output == nil { try? FileManager.default.removeItem(atPath: folder) } }
        guard let name else { return nil }
        return try registry.open().add(folder: folder, name: name, tags: tag, base: base)
    }

    /// Where the adapter went: `"output"` and `"registered"` for --json, or the lines to print.
    func report(_ registered: AdapterStore.Version?, json object: inout [String: PythonJSONText.Value]) {
        object["output"] = output.map { .string($0) } ?? .null
        if let registered { object["registered"] = .object(["name": .string(registered.name), "version": .int(registered.version)]) }
    }

    func printReport(_ registered: AdapterStore.Version?) {
        if let output { print("wrote \(output)") }
        if let registered { print("stored as \(registered.name)@\(registered.version)") }
    }
}
