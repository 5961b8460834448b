/// JSON text the way Python's `json.dumps(..., indent=2, sort_keys=True)` writes it, which is
/// how transformers writes `config.json` and `model.safetensors.index.json`: files we write
/// then diff cleanly against files Python tools write.
public enum PythonJSONText {
    /// A value to print. Objects are printed with keys sorted (Python's `sort_keys=True`).
    public indirect enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case int(Int)
        case double(Double)
        case string(String)
        case array([Value])
        case object([String: Value])
    }

    /// `json.dumps(value, indent=2, sort_keys=True)` followed by a newline.
    public static func render(_ value: Value) -> String {
        var out = ""
        append(value, indent: 0, to: &out)
        return out + "\n"
    }

    /// `json.dumps(value, separators=(",", ":"), sort_keys=True)`: one line, for machine output.
    public static func renderCompact(_ value: Value) -> String {
        var out = ""
        appendCompact(value, to: &out)
        return out
    }

    private static func sortedKeys(_ members: [String: Value]) -> [String] {
        // Python sorts str keys by code point, which is UTF-32 order, not UTF-8 byte order.
        members.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    private static func appendCompact(_ value: Value, to out: inout String) {
        switch value {
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                appendCompact(element, to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, key) in sortedKeys(members).enumerated() {
                if i > 0 { out += "," }
                out += quoted(key) + ":"
                appendCompact(members[key]!, to: &out)
            }
            out += "}"
        default:
            append(value, indent: 0, to: &out)
        }
    }

    private static func append(_ value: Value, indent: Int, to out: inout String) {
        let pad = String(repeating: " ", count: indent + 2)
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .double(let number): out += pythonRepr(number)
        case .string(let text): out += quoted(text)
        case .array(let elements):
            if elements.isEmpty {
                out += "[]"
                return
            }
            out += "[\n"
            for (i, element) in elements.enumerated() {
                out += pad
                append(element, indent: indent + 2, to: &out)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{\n"
            let keys = sortedKeys(members)
            for (i, key) in keys.enumerated() {
                out += pad + quoted(key) + ": "
                append(members[key]!, indent: indent + 2, to: &out)
                out += i + 1 < keys.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// A string literal with Python's default `ensure_ascii=True` escaping.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value > 0x7E && scalar.value != 0x7F {
                    for unit in String(scalar).utf16 { out += "\\u" + hex4(unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex4(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    /// Python's `repr(float)`: shortest round-trip digits, `1e-05` style exponents.
    public static func pythonRepr(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
        // Swift's description is also the shortest round-trip form; only the layout differs.
        let text = "\(number)"
        guard let e = text.firstIndex(of: "e") else { return text }
        var mantissa = String(text[..<e])
        if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
        var exponent = String(text[text.index(after: e)...])
        let sign = exponent.hasPrefix("-") ? "-" : "+"
        if exponent.hasPrefix("-") || exponent.hasPrefix("+") { exponent.removeFirst() }
        if exponent.count < 2 { exponent = "0" + exponent }
        return mantissa + "e" + sign + exponent
    }
}
