import Foundation
import Jinja
import TailorTestSupport
import Testing

/// Snippets covering the language (whitespace control, literals, Python arithmetic and printing, lookups,
/// statements, filters, tests, methods, errors), rendered by the Jinja2 environment transformers compiles chat
/// templates with: fixtures/chat-templates/goldens.json, "language".
@Suite struct LanguageGoldenTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var template: String
        var context: [String: Value]
        var expected: String?
        var errorClass: String?
        var message: String?
        var testDescription: String { template.debugDescription }
    }

    static let cases: [Case] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("chat-templates/goldens.json")))
        guard case let .object(root) = try! Value(json: data), case let .array(items)? = root["language"] else { return [] }
        return items.compactMap { item in
            guard case let .object(object) = item, case let .string(template)? = object["template"] else { return nil }
            var context: [String: Value] = [:]
            if case let .object(values)? = object["context"] { for (key, value) in values.pairs { context[key] = value } }
            func string(_ key: String) -> String? {
                if case let .string(text)? = object[key] { return text }
                return nil
            }
            return Case(
                template: template, context: context, expected: string("expected"), errorClass: string("error"), message: string("message"))
        }
    }()

    /// Jinja2's exception classes and the kind we report them as.
    static let kinds: [String: TemplateError.Kind] = [
        "UndefinedError": .undefined, "TypeError": .type, "ZeroDivisionError": .type, "SecurityError": .security,
        "TemplateError": .raised, "TemplateAssertionError": .unknownFilter, "TemplateSyntaxError": .syntax,
        "TemplateRuntimeError": .type,
    ]

    @Test func thereAreCases() {
        #expect(Self.cases.count > 80)
    }

    @Test(arguments: cases)
    func rendersLikeJinja2(_ test: Case) throws {
        let outcome = Result { try Template(test.template).render(test.context) }
        if let expected = test.expected {
            switch outcome {
            case let .success(text): #expect(text == expected)
            case let .failure(error): Issue.record("threw \(error), Jinja2 renders \(expected.debugDescription)")
            }
            return
        }
        switch outcome {
        case let .success(text):
            Issue.record("rendered \(text.debugDescription); Jinja2 raises \(test.errorClass ?? "") \(test.message ?? "")")
        case let .failure(error):
            let error = try #require(error as? TemplateError)
            #expect(error.kind == Self.kinds[test.errorClass ?? ""], "\(error) vs \(test.errorClass ?? "")")
            if error.kind != .syntax { #expect(error.message == test.message) }
        }
    }
}
