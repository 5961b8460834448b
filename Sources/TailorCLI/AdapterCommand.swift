import ArgumentParser
import Diagnostics
import Foundation
import Inference
import Registry
import SafeTensors
import Workflows

/// `--registry DIR|URL`: where adapters are stored.
struct RegistryOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The registry: a folder, or a shared PostgreSQL database postgres://USER@HOST:PORT/DB "
                + "(default: $TAILOR_REGISTRY, else $TAILOR_HOME, else ~/.tailor).",
            valueName: "dir-or-url"))
    var registry: String?

    var root: String { registry ?? AdapterStore.defaultRoot }

    func open() throws -> AdapterStore { try AdapterStore(root: root) }
}

extension AdapterStore.Version {
    var jsonValue: PythonJSONText.Value {
        .object([
            "name": .string(name), "version": .int(version), "created": .string(ISO8601DateFormatter().string(from: created)),
            "peft_type": .string(peftType), "base_model": baseModel.map { .string($0) } ?? .null,
            "base_fingerprint": baseFingerprint.map { .string($0) } ?? .null, "tags": .array(tags.map { .string($0) }),
            "tensors": .int(tensorCount), "raw_bytes": .int(rawBytes), "stored_bytes": .int(storedBytes),
            "stored_dtype": storedDType.map { .string($0) } ?? .null,
        ])
    }

    var line: String {
        let ratio = storedBytes > 0 ? Double(rawBytes) / Double(storedBytes) : 1
        return "\(name)@\(version)\t\(peftType)\t\(formatBytes(rawBytes)) -> \(formatBytes(storedBytes)) "
            + "(\(String(format: "%.2f", ratio))x)"
            + (tags.isEmpty ? "" : "\t[\(tags.joined(separator: ", "))]")
    }
}

extension OutputOptions {
    /// A version as a JSON object, or as "<verb> <line>".
    func report(_ version: AdapterStore.Version, _ verb: String) {
        if json { emit(version.jsonValue) } else { print(verb + " " + version.line) }
    }
}

struct AdapterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter",
        abstract: "Store, list, tag, remove and export adapters.",
        discussion: """
            The registry keeps versions of each named adapter, every tensor compressed losslessly \
            and stored by content (SHA-256), with an SQLite index. NAME selects the latest version, \
            NAME@N a version, NAME@TAG a tagged one.

            Examples:
              tailor adapter add runs/sentiment --name sentiment --tag best
              tailor adapter list --json
              tailor adapter export sentiment@best --output deploy/sentiment
            """,
        subcommands: [Add.self, List.self, Show.self, Tag.self, Remove.self, Export.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a PEFT adapter folder (Python PEFT's or a tailor train output) as the next version of NAME.",
            discussion: "Example:\n  tailor adapter add runs/sentiment --name sentiment --tag best")
        @Argument(help: "The adapter folder.") var folder: String
        @Option(help: "The adapter's name.") var name: String
        @Option(help: "Tags for this version (repeatable).") var tag: [String] = []
        @Option(help: "The base model folder to fingerprint (default: the config's base_model_name_or_path when it is a folder).")
        var base: String?
        @Option(
            help: ArgumentHelp(
                "Store the adapter's float tensors lossily: bf16, f16, int8 (per-row scales) or nf4 (blocks of 64); "
                    + "export restores the dtype. Reports the logit change when the base is known."))
        var storeDtype: AdapterStorage.Precision?
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let added = try AdapterStorage.add(
                    folder: folder, name: name, tags: tag, base: base, precision: storeDtype,
                    in: try registryOptions.open())
                if outputOptions.json {
                    guard case .object(var object) = added.version.jsonValue else { return }
                    if let change = added.change {
                        object["max_logit_change"] = .double(Double(change.maxChange))
                        object["mean_logit_change"] = .double(Double(change.meanChange))
                    }
                    outputOptions.emit(.object(object))
                } else {
                    outputOptions.report(added.version, "stored")
                    if let change = added.change, let storeDtype {
                        print(
                            String(
                                format: "stored as %@: logits change by at most %.3g (mean %.3g) over %d logits on a random sample",
                                storeDtype.rawValue, change.maxChange, change.meanChange, change.logits))
                    }
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every stored adapter version.",
            discussion: "Example:\n  tailor adapter list --json")
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let versions = try registryOptions.open().list()
                if outputOptions.json { outputOptions.emit(.array(versions.map(\.jsonValue))) } else { versions.forEach { print($0.line) } }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one version: sizes, tags, base model and its PEFT config.",
            discussion: "Example:\n  tailor adapter show sentiment@2")
        @Argument(help: "NAME, NAME@N or NAME@TAG.") var reference: String
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let version = try registryOptions.open().show(reference)
                if outputOptions.json {
                    guard case .object(var object) = version.jsonValue else { return }
                    object["config"] = .string(version.config)
                    outputOptions.emit(.object(object))
                } else {
                    print(version.line)
                    print("base model: \(version.baseModel ?? "unknown")")
                    print(version.config)
                }
            }
        }
    }

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point TAG at a version (a tag moves if it was elsewhere).",
            discussion: "Example:\n  tailor adapter tag sentiment@3 prod")
        @Argument(help: "NAME, NAME@N or NAME@TAG.") var reference: String
        @Argument(help: "The tag.") var tag: String
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let store = try registryOptions.open()
                try store.tag(reference, as: tag)
                let version = try store.show(try AdapterReference(parsing: reference).name + "@" + tag)
                outputOptions.report(version, "tagged")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove a version (NAME@N, NAME@TAG) or a whole adapter (NAME).",
            discussion: "Blobs no other version uses are freed by `tailor registry gc`.\n\nExample:\n  tailor adapter rm sentiment@1")
        @Argument(help: "NAME, NAME@N or NAME@TAG.") var reference: String
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                try registryOptions.open().remove(reference)
                if outputOptions.json {
                    outputOptions.emit(.object(["removed": .string(reference)]))
                } else {
                    print("removed \(reference)")
                }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a version as a PEFT adapter folder, byte-identical to what was added (Python PEFT loads it).",
            discussion: "Example:\n  tailor adapter export sentiment@best --output deploy/sentiment")
        @Argument(help: "NAME, NAME@N or NAME@TAG.") var reference: String
        @Option(help: "The folder to create.") var output: String
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                try registryOptions.open().export(reference, to: output)
                if outputOptions.json {
                    outputOptions.emit(.object(["exported": .string(reference), "output": .string(output)]))
                } else {
                    print("exported \(reference) to \(output)")
                }
            }
        }
    }
}
