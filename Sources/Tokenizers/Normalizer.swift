import Foundation

/// Text normalization before splitting: tokenizer.json's "normalizer".
indirect enum Normalizer {
    case bert(cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case lowercase
    case nfc, nfd, nfkc, nfkd
    case stripAccents
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case replace(Pattern, String)
    case sequence([Normalizer])

    init(_ json: JSONObject) throws {
        switch json.type {
        case "BertNormalizer":
            let lowercase = json.bool("lowercase", default: true)
            self = .bert(
                cleanText: json.bool("clean_text", default: true), chineseChars: json.bool("handle_chinese_chars", default: true),
                stripAccents: json.values["strip_accents"] as? Bool ?? lowercase, lowercase: lowercase)
        case "Lowercase": self = .lowercase
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "StripAccents": self = .stripAccents
        case "Strip": self = .strip(left: json.bool("strip_left", default: true), right: json.bool("strip_right", default: true))
        case "Prepend": self = .prepend(try json.string("prepend"))
        case "Replace": self = .replace(try Pattern(json.values["pattern"], json: json), try json.string("content"))
        case "Sequence":
            let parts = json.array("normalizers") ?? []
            self = .sequence(try parts.enumerated().map { try Normalizer(JSONObject($1, file: json.file, context: "normalizer \($0)")) })
        default:
            throw json.fail("normalizer type \(json.type ?? "(none)") is not supported")
        }
    }

    func apply(_ text: String) -> String {
        switch self {
        case let .bert(cleanText, chineseChars, stripAccents, lowercase):
            var scalars = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                if cleanText {
                    if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
                    if Self.isBertWhitespace(scalar) {
                        scalars.append(" ")
                        continue
                    }
                }
                if chineseChars && Self.isChinese(scalar) {
                    scalars.append(" ")
                    scalars.append(scalar)
                    scalars.append(" ")
                } else {
                    scalars.append(scalar)
                }
            }
            var out = String(scalars)
            if stripAccents { out = Normalizer.stripAccents.apply(out) }
            if lowercase { out = out.lowercased() }
            return out
        case .lowercase: return text.lowercased()
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .stripAccents:
            var scalars = String.UnicodeScalarView()
            for scalar in text.decomposedStringWithCanonicalMapping.unicodeScalars
            where scalar.properties.generalCategory != .nonspacingMark {
                scalars.append(scalar)
            }
            return String(scalars)
        case let .strip(left, right):
            var scalars = Array(text.unicodeScalars)
            if left { while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
            return String(String.UnicodeScalarView(scalars))
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        case let .replace(pattern, content): return pattern.replaceAll(in: text, with: content)
        case .sequence(let parts): return parts.reduce(text) { $1.apply($0) }
        }
    }

    /// Rust's is_control as tokenizers uses it: "other" categories except tab, newline, return.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isBertWhitespace(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" || s == " " { return true }
        switch s.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}

/// A "pattern" of tokenizer.json: a literal string or a regular expression, matched on Unicode
/// scalars (as the Rust library matches on chars), never on grapheme clusters.
struct Pattern: @unchecked Sendable {
    let literal: String?
    let regex: Regex<AnyRegexOutput>?

    init(_ value: Any?, json: JSONObject) throws {
        guard let object = value as? [String: Any] else { throw json.fail("pattern is missing") }
        if let text = object["String"] as? String {
            literal = text
            regex = nil
        } else if let expression = object["Regex"] as? String {
            literal = nil
            do {
                regex = try Regex(expression).matchingSemantics(.unicodeScalar)
            } catch {
                throw json.fail("cannot compile regex \(expression): \(error)")
            }
        } else {
            throw json.fail("pattern must be {\"String\": …} or {\"Regex\": …}")
        }
    }

    /// Non-overlapping matches, left to right, as ranges of `text`.
    func matches(in text: String) -> [Range<String.Index>] {
        if let literal {
            guard !literal.isEmpty else { return [] }
            var ranges: [Range<String.Index>] = []
            var searchStart = text.startIndex
            let scalars = text.unicodeScalars
            while let range = scalars[searchStart...].firstRange(of: literal.unicodeScalars) {
                ranges.append(range)
                searchStart = range.upperBound
            }
            return ranges
        }
        return text.matches(of: regex!).map(\.range).filter { !$0.isEmpty }
    }

    func replaceAll(in text: String, with content: String) -> String {
        var out = ""
        var last = text.startIndex
        for range in matches(in: text) {
            out.unicodeScalars.append(contentsOf: text.unicodeScalars[last..<range.lowerBound])
            out += content
            last = range.upperBound
        }
        out.unicodeScalars.append(contentsOf: text.unicodeScalars[last...])
        return out
    }
}
