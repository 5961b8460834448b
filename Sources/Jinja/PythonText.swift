import Foundation

/// How Python prints values (`str()` and `repr()`), which is what a template shows when it prints a list, a
/// boolean or none: `['a', 'b']`, `True`, `None`.
enum PythonText {
    /// `str(value)`; undefined prints as the empty string, as Jinja's default `Undefined` does.
    static func str(_ value: Value) -> String {
        switch value {
        case .undefined: return ""
        case let .string(s): return s
        default: return repr(value)
        }
    }

    static func repr(_ value: Value, depth: Int = 0) -> String {
        guard depth < 128 else { return "[...]" }
        switch value {
        case .undefined: return ""
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .double(d): return float(d)
        case let .string(s): return quoted(s)
        case let .array(items): return "[" + items.map { repr($0, depth: depth + 1) }.joined(separator: ", ") + "]"
        case let .object(object):
            return "{" + object.pairs.map { quoted($0.key) + ": " + repr($0.value, depth: depth + 1) }.joined(separator: ", ") + "}"
        case let .namespace(namespace): return "<Namespace " + repr(.object(namespace.attributes), depth: depth + 1) + ">"
        case let .callable(callable): return callable.display
        }
    }

    /// `repr(float)`: the shortest digits that read back to the same double (Swift finds the same ones), spelt
    /// positionally from 1e-4 up to 1e16 and with a two-digit exponent outside (`1e+16`, `1e-05`).
    static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (digits, exponent) = shortestDigits(abs(d))
        let sign = d < 0 ? "-" : ""
        if (-4..<16).contains(exponent) {
            if exponent >= 0 {
                let padded = digits + String(repeating: "0", count: max(0, exponent + 1 - digits.count))
                let fraction = padded.dropFirst(exponent + 1)
                return sign + padded.prefix(exponent + 1) + "." + (fraction.isEmpty ? "0" : fraction)
            }
            return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        let mantissa = digits.count > 1 ? String(digits.first!) + "." + digits.dropFirst() : digits
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "") + String(abs(exponent))
    }

    /// The significant digits of a positive double and the power of ten of the first one.
    private static func shortestDigits(_ d: Double) -> (String, Int) {
        let parts = d.description.split(separator: "e", maxSplits: 1)
        let base = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(base[0])
        var digits = whole + (base.count > 1 ? String(base[1]) : "")
        var exponent = whole.count - 1 + (parts.count == 2 ? Int(parts[1]) ?? 0 : 0)
        while digits.count > 1 && digits.hasPrefix("0") {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.count > 1 && digits.hasSuffix("0") { digits.removeLast() }
        return (digits, exponent)
    }

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote; escapes for
    /// backslashes, the quote, and non-printable characters.
    static func quoted(_ text: String) -> String {
        let useDouble = text.contains("'") && !text.contains("\"")
        let quote: Character = useDouble ? "\"" : "'"
        var out = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else if scalar.value >= 0x80 && !isPrintable(scalar) {
                    out +=
                        scalar.value <= 0xFF
                        ? String(format: "\\x%02x", scalar.value)
                        : scalar.value <= 0xFFFF ? String(format: "\\u%04x", scalar.value) : String(format: "\\U%08x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// Python's `str.isprintable` for one character: not a control, format, surrogate, unassigned or separator
    /// other than the space.
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: return false
        case .spaceSeparator: return scalar == " "
        default: return true
        }
    }

    /// Python's `str.isspace` for one character (Unicode White_Space plus the information separators).
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }
}
