import ArgumentParser
import Diagnostics
import Registry

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Check, clean or copy an adapter registry.",
        discussion: """
            A registry is a folder or a PostgreSQL database (postgres://USER@HOST:PORT/DB) a team shares.

            Examples:
              tailor registry verify
              tailor registry gc --json
              tailor registry sync --from ~/.tailor --to postgres://ml@db.internal:5432/adapters
            """,
        subcommands: [Verify.self, CollectGarbage.self, Sync.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every blob; exits 1 when one is corrupted or missing.",
            discussion: "Example:\n  tailor registry verify")
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let (corrupted, missing) = try registryOptions.open().verify()
                if outputOptions.json {
                    outputOptions.emit(
                        .object([
                            "corrupted": .array(corrupted.map { .string($0) }),
                            "missing": .array(missing.map { .string($0) }),
                        ]))
                } else {
                    for hash in corrupted { print("corrupted blob \(hash)") }
                    for hash in missing { print("missing blob \(hash)") }
                    if corrupted.isEmpty && missing.isEmpty { print("every blob matches its hash") }
                }
                if !corrupted.isEmpty || !missing.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct CollectGarbage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc", abstract: "Remove blobs no adapter version uses.",
            discussion: "Example:\n  tailor registry gc")
        @OptionGroup var registryOptions: RegistryOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let removed = try registryOptions.open().collectGarbage()
                if outputOptions.json {
                    outputOptions.emit(.object(["removed_blobs": .int(removed)]))
                } else {
                    print("removed \(removed) blobs")
                }
            }
        }
    }

    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every version and tag of one registry into another (folder or PostgreSQL, either way).",
            discussion: """
                Versions keep their numbers; every blob is checked against its hash on both sides. A version the \
                destination already holds with the same files is skipped, so running it again copies nothing; one it \
                holds with other files is reported as a conflict (exit 1) and left alone.

                Example:
                  tailor registry sync --from ~/.tailor --to postgres://ml@db.internal:5432/adapters
                """)
        @Option(help: ArgumentHelp("The registry to copy from: a folder or postgres://…", valueName: "dir-or-url")) var from: String
        @Option(help: ArgumentHelp("The registry to copy into (created when missing).", valueName: "dir-or-url")) var to: String
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try reportingErrors {
                let report = try RegistrySync.run(from: AdapterStore(root: from), to: AdapterStore(root: to)) { line in
                    if !outputOptions.json { print(line) }
                }
                if outputOptions.json {
                    outputOptions.emit(
                        .object([
                            "copied": .array(report.copied.map { .string($0) }), "unchanged": .int(report.unchanged),
                            "tagged": .array(report.tagged.map { .string($0) }), "conflicts": .array(report.conflicts.map { .string($0) }),
                            "copied_bytes": .int(report.copiedBytes),
                        ]))
                } else {
                    print(
                        "\(report.copied.count) versions copied (\(formatBytes(report.copiedBytes))), \(report.unchanged) already there, "
                            + "\(report.tagged.count) tags set, \(report.conflicts.count) conflicts")
                }
                if !report.conflicts.isEmpty { throw ExitCode(1) }
            }
        }
    }
}
