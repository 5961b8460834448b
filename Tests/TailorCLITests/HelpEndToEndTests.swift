import ArgumentParser
import Foundation
import Testing

@testable import TailorCLI

@Suite struct HelpEndToEndTests {
    /// Taken from the command tree itself, so a new command cannot go unchecked.
    static let subcommands = Tailor.configuration.subcommands.map { $0._commandName }
    static let nestedSubcommands = Tailor.configuration.subcommands.flatMap { group in
        group.configuration.subcommands.map { "\(group._commandName) \($0._commandName)" }
    }

    @Test func theCommandTreeIsWhatWeDocument() {
        #expect(Self.subcommands.count >= 16 && Self.subcommands.contains("train") && Self.nestedSubcommands.contains("adapter show"))
    }

    @Test func rootHelpListsEverySubcommandWithOneLine() throws {
        let result = try TailorProcess.run(["--help"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for name in Self.subcommands {
            let index = try #require(lines.firstIndex { $0.hasPrefix("  \(name) ") }, "\(name) missing from tailor --help")
            #expect(lines[index].dropFirst(name.count + 2).trimmingCharacters(in: .whitespaces).count > 10, "\(name) has a summary")
            // A wrapped summary continues on a line indented past the subcommand column.
            #expect(!lines[index + 1].hasPrefix("        "), "\(name)'s summary fits on one line")
        }
    }

    @Test(arguments: subcommands)
    func everySubcommandHelpHasAnExample(name: String) throws {
        let result = try TailorProcess.run([name, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("tailor \(name)"))
        // Command groups list their subcommands; the subcommands carry --json.
        #expect(result.stdout.contains("--json") || result.stdout.contains("SUBCOMMANDS:"))
    }

    @Test(arguments: nestedSubcommands)
    func everyNestedSubcommandHelpHasAnExampleAndJSON(command: String) throws {
        let result = try TailorProcess.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example") && result.stdout.contains("tailor \(command)"), "\(command)")
        #expect(result.stdout.contains("--json"), "\(command)")
    }
}
