import Adapters
import ArgumentParser
import Foundation
import Registry
import SafeTensors
import Workflows

/// `--output`, `--name` and `--tag` of a command that makes a new adapter (merge, extract): a
/// PEFT folder, a registry version, or both.
struct AdapterOutputOptions: ParsableArguments {
    @Option(help: "The folder to create.") var output: String?
    @Option(help: "Store the adapter in the registry under this name.") var name: String?
    @Option(help: "Tags for the registered version (repeatable).") var tag: [String] = []

    func validate() throws {
        guard output != nil || name != nil else { throw ValidationError("give --output DIR and/or --name NEW for the new adapter") }
        if let name { do { try AdapterStore.checkName(name) } catch { throw ValidationError("--name: \(error)") } }
        for tag in tag { do { try AdapterStore.checkTag(tag) } catch { throw ValidationError("--tag: \(error)") } }
    }

    func destination(registry: RegistryOptions) -> AdapterDestination {
        AdapterDestination(output: output, name: name, tags: tag, registryRoot: registry.root)
    }
}

extension SavedAdapter {
    /// Where the adapter went: `"output"` and `"registered"` for --json.
    func report(json object: inout [String: PythonJSONText.Value]) {
        object["output"] = output.map { .string($0) } ?? .null
        if let registered { object["registered"] = .object(["name": .string(registered.name), "version": .int(registered.version)]) }
    }

    func printReport() {
        if let output { print("wrote \(output)") }
        if let registered { print("stored as \(registered.name)@\(registered.version)") }
    }
}
