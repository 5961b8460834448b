import Foundation
import Jinja
import TailorTestSupport
import Testing

/// Values from JSON and Swift, and `strftime_now` against Python's strftime of the goldens' frozen clock.
@Suite struct ValueAndClockTests {
    @Test func jsonKeepsOrderTypesAndEscapes() throws {
        let value = try Value(json: #"{"b": 1, "a": [1.0, -2, 3e2, true, null, "\u00e9\ud83d\ude00\n"], "": {}}"#)
        let text = try Template("{{ v | tojson }}|{{ v.a[0] is float }}{{ v.a[1] is integer }}").render(["v": value])
        #expect(text == #"{"b": 1, "a": [1.0, -2, 300.0, true, null, "é😀\n"], "": {}}|TrueTrue"#)
        for broken in ["", "{", "[1,]", "{\"a\" 1}", "\"\\x\"", "01x", "[1] 2", String(repeating: "[", count: 200)] {
            #expect(throws: (any Error).self) { try Value(json: broken) }
        }
    }

    @Test func serializedFoundationValuesKeepTheirTypes() throws {
        let object = try JSONSerialization.jsonObject(with: Data(#"{"flag": true, "n": 1, "x": 1.5, "none": null, "list": [false]}"#.utf8))
        let value = Value(any: object)
        let text = try Template("{{ v.flag }} {{ v.n }} {{ v.x }} {{ v.none }} {{ v.list }} {{ v.flag is boolean }}").render(["v": value])
        #expect(text == "True 1 1.5 None [False] True")
        #expect(Value(any: ["b": 1, "a": true] as [String: Any]) == ["a": true, "b": 1])
    }

    @Test func strftimeMatchesPython() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("chat-templates/goldens.json")))
        guard case let .object(root) = try Value(json: data), case let .object(formats)? = root["strftime"] else {
            Issue.record("goldens.json has no strftime")
            return
        }
        // 2025-03-07T09:05:03, the goldens' frozen naive clock, read as UTC.
        let now = Date(timeIntervalSince1970: 1_741_338_303)
        let options = RenderOptions(now: { now }, timeZone: TimeZone(identifier: "UTC")!)
        #expect(formats.count >= 5)
        for (format, expected) in formats.pairs {
            #expect(
                try Template("{{ strftime_now(f) }}").render(["f": .string(format)], options: options) == text(of: expected), "\(format)")
        }
    }

    func text(of value: Value) -> String {
        if case let .string(text) = value { return text }
        return ""
    }
}
