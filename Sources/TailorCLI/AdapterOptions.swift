import Adapters
import ArgumentParser
import Foundation
import Registry
import Workflows

/// `--adapter` (repeatable: a weighted stack), `--force` and `--registry`, as every command that
/// applies adapters takes them.
struct AdapterOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "An adapter: a PEFT folder, or a registry reference (NAME, NAME@N, NAME@TAG) when no such folder exists; "
                + "NAME:WEIGHT weights it. Repeat to stack adapters (outputs summed).", valueName: "adapter[:weight]"))
    var adapter: [String] = []
    @Flag(help: "Apply a registry adapter even if it was trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions

    func resolver(model: String) -> AdapterResolver {
        AdapterResolver(model: model, registryRoot: registryOptions.root, force: force)
    }

    /// The stack `--adapter` names, each member's files read (registry versions in memory).
    func stack(model: String) throws -> [(member: AdapterStack.Member, files: AdapterFiles)] {
        try resolver(model: model).resolve(references: adapter)
    }
}
