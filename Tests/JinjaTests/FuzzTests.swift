import Foundation
import Jinja
import TailorTestSupport
import Testing

/// Every prefix of the real chat templates, and seeded random edits of them, either render or throw a
/// TemplateError: never a trap, never a hang.
@Suite struct FuzzTests {
    static let names = ["llama-3.2-instruct", "qwen2.5-instruct", "mistral-7b-instruct-v0.3", "smollm2-instruct"]

    static let context: [String: Value] = [
        "messages": [
            ["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi"],
            [
                "role": "assistant", "content": "Hello",
                "tool_calls": [["id": "abcdefghi", "function": ["name": "f", "arguments": ["a": 1]]]],
            ],
            ["role": "tool", "content": "42", "tool_call_id": "abcdefghi"], ["role": "user", "content": "Thanks"],
        ],
        "tools": [["type": "function", "function": ["name": "f", "parameters": ["type": "object"]]]],
        "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    ]

    static func source(_ name: String) throws -> String {
        try String(contentsOfFile: FixturePaths.path("chat-templates/\(name).jinja"), encoding: .utf8)
    }

    static func survive(_ text: String) {
        let limits = RenderLimits(maxSteps: 200_000, maxOutputBytes: 1 << 20)
        do {
            _ = try Template(text).render(context, options: RenderOptions(now: { Date(timeIntervalSince1970: 0) }, limits: limits))
        } catch is TemplateError {
        } catch {
            Issue.record("\(error) is not a TemplateError for \(text.debugDescription)")
        }
    }

    @Test(arguments: names)
    func everyPrefixParsesOrFailsCleanly(name: String) throws {
        let scalars = Array(try Self.source(name).unicodeScalars)
        for end in stride(from: 0, through: scalars.count, by: 1) {
            Self.survive(String(String.UnicodeScalarView(scalars[..<end])))
        }
    }

    @Test(arguments: names)
    func randomEditsParseOrFailCleanly(name: String) throws {
        let scalars = Array(try Self.source(name).unicodeScalars)
        let alphabet = Array("{}%#-+()[]'\"|.,:=~*/ \nifornotin0123456789abc_".unicodeScalars)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<400 {
            var edited = scalars
            for _ in 0..<(1 + next(4)) {
                let at = next(edited.count)
                switch next(3) {
                case 0: edited.remove(at: at)
                case 1: edited.insert(alphabet[next(alphabet.count)], at: at)
                default: edited[at] = alphabet[next(alphabet.count)]
                }
            }
            Self.survive(String(String.UnicodeScalarView(edited)))
        }
    }
}
