import Foundation
import Jinja
import TailorTestSupport
import Testing

@testable import Tokenizers

/// Each model's real chat template renders every conversation of fixtures/chat-templates/goldens.json byte for
/// byte as transformers' apply_chat_template(tokenize=False) did, refusals (raise_exception) included.
@Suite struct ChatTemplateGoldenTests {
    static let goldens: Value = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("chat-templates/goldens.json")))
        return try! Value(json: data)
    }()

    static let names = ["llama-3.2-instruct", "qwen2.5-instruct", "mistral-7b-instruct-v0.3", "smollm2-instruct"]

    /// The golden's frozen clock ("2025-03-07T09:05:03", naive local time) as a Date in UTC.
    static let now: Date = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        guard case let .string(text)? = field(goldens, "now") else { fatalError("goldens.json has no now") }
        return formatter.date(from: text)!
    }()

    static func field(_ value: Value, _ key: String) -> Value? {
        guard case let .object(object) = value else { return nil }
        return object[key]
    }

    @Test(arguments: names)
    func rendersLikeTransformers(name: String) throws {
        let golden = try #require(Self.field(Self.field(Self.goldens, "templates")!, name))
        let source = try String(contentsOfFile: FixturePaths.path("chat-templates/\(name).jinja"), encoding: .utf8)
        var special: [String: String] = [:]
        if case let .object(tokens)? = Self.field(golden, "special_tokens") {
            for (key, value) in tokens.pairs { if case let .string(text) = value { special[key] = text } }
        }
        let template = try ChatTemplate(source: source, specialTokens: special, file: "\(name).jinja")
        guard case let .array(cases)? = Self.field(golden, "cases") else {
            Issue.record("no cases")
            return
        }
        #expect(cases.count >= 7)
        var compared = 0
        defer { #expect(compared == cases.count, "\(name): only \(compared) of \(cases.count) cases compared") }
        for test in cases {
            guard case let .string(caseName)? = Self.field(test, "name") else { continue }
            var extra: [String: Value] = [:]
            if case let .object(object)? = Self.field(test, "extra") { for (key, value) in object.pairs { extra[key] = value } }
            let tools = Self.field(test, "tools")
            let options = RenderOptions(now: { Self.now }, timeZone: TimeZone(identifier: "UTC")!)
            let render = {
                try template.render(
                    messages: Self.field(test, "messages")!, addGenerationPrompt: Self.field(test, "add_generation_prompt")!.isTruthy,
                    tools: tools == Value.none ? nil : tools, extraContext: extra, options: options)
            }
            if case let .string(expected)? = Self.field(test, "expected") {
                compared += 1
                do {
                    let text = try render()
                    #expect(text == expected, "\(name)/\(caseName):\n--- ours\n\(text)\n--- transformers\n\(expected)")
                } catch {
                    Issue.record("\(name)/\(caseName): \(error)")
                }
            } else if case let .string(message)? = Self.field(test, "error") {
                compared += 1
                do {
                    let text = try render()
                    Issue.record("\(name)/\(caseName): rendered instead of refusing: \(text)")
                } catch let error as ChatTemplateError {
                    #expect(error.templateError.kind == .raised, "\(name)/\(caseName): \(error)")
                    #expect(error.message == message, "\(name)/\(caseName)")
                }
            }
        }
    }
}
