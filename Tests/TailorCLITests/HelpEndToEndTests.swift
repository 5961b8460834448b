import Testing

@Suite struct HelpEndToEndTests {
    static let subcommands = ["inspect", "convert", "verify", "demo"]

    @Test func rootHelpListsEverySubcommandWithOneLine() throws {
        let result = try TailorProcess.run(["--help"])
        #expect(result.status == 0)
        for name in Self.subcommands {
            #expect(result.stdout.contains("  \(name) "), "\(name) missing from tailor --help")
        }
    }

    @Test(arguments: subcommands)
    func everySubcommandHelpHasAnExample(name: String) throws {
        let result = try TailorProcess.run([name, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("tailor \(name)"))
        #expect(result.stdout.contains("--json"))
    }
}
