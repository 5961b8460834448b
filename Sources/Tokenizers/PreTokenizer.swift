/// Splitting normalized text into words before the model: tokenizer.json's "pre_tokenizer".
/// Each stage maps a list of pieces to a list of pieces; `isFirst` says whether a piece starts
/// the original text (Metaspace's prepend scheme "first" depends on it).
indirect enum PreTokenizer {
    case bert
    case whitespace
    case whitespaceSplit
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(Pattern, SplitBehavior, invert: Bool)
    case metaspace(replacement: String, prepend: PrependScheme, split: Bool)
    case digits(individual: Bool)
    case punctuation
    case sequence([PreTokenizer])

    enum SplitBehavior: String {
        case removed, isolated, mergedWithPrevious = "merged_with_previous", mergedWithNext = "merged_with_next", contiguous
    }
    enum PrependScheme: String { case always, first, never }

    struct Piece {
        var text: String
        var isFirst: Bool
    }

    /// GPT-2's split pattern (the ByteLevel pre-tokenizer's `use_regex`).
    nonisolated(unsafe) static let gpt2Pattern = try! Regex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)
        .matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let whitespacePattern = try! Regex(#"\w+|[^\w\s]+"#).matchingSemantics(.unicodeScalar)

    init(_ json: JSONObject) throws {
        switch json.type {
        case "BertPreTokenizer": self = .bert
        case "Whitespace": self = .whitespace
        case "WhitespaceSplit": self = .whitespaceSplit
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: json.bool("add_prefix_space", default: true), useRegex: json.bool("use_regex", default: true))
        case "Split":
            guard
                let behavior = SplitBehavior(
                    rawValue: (json.optionalString("behavior") ?? "removed").lowercased()
                        .replacingOccurrences(of: "mergedwithprevious", with: "merged_with_previous")
                        .replacingOccurrences(of: "mergedwithnext", with: "merged_with_next"))
            else {
                throw json.fail("split behavior \(json.optionalString("behavior") ?? "") is not supported")
            }
            self = .split(try Pattern(json.values["pattern"], json: json), behavior, invert: json.bool("invert", default: false))
        case "Metaspace":
            let scheme =
                json.optionalString("prepend_scheme").flatMap(PrependScheme.init)
                ?? (json.bool("add_prefix_space", default: true) ? .always : .never)
            self = .metaspace(
                replacement: json.optionalString("replacement") ?? "▁", prepend: scheme,
                split: json.bool("split", default: true))
        case "Digits": self = .digits(individual: json.bool("individual_digits", default: false))
        case "Punctuation": self = .punctuation
        case "Sequence":
            let parts = json.array("pretokenizers") ?? []
            self = .sequence(
                try parts.enumerated().map {
                    try PreTokenizer(JSONObject($1, file: json.file, context: "pre_tokenizer \($0)"))
                })
        default:
            throw json.fail("pre_tokenizer type \(json.type ?? "(none)") is not supported")
        }
    }

    func apply(_ pieces: [Piece]) -> [Piece] {
        switch self {
        case .sequence(let stages): return stages.reduce(pieces) { $1.apply($0) }
        default: return pieces.flatMap { piece in split(piece) }
        }
    }

    private func split(_ piece: Piece) -> [Piece] {
        let text = piece.text
        func pieces(_ parts: [Substring.UnicodeScalarView]) -> [Piece] {
            var first = piece.isFirst
            return parts.filter { !$0.isEmpty }.map { part in
                defer { first = false }
                return Piece(text: String(String.UnicodeScalarView(part)), isFirst: first)
            }
        }
        switch self {
        case .bert:
            var parts: [Substring.UnicodeScalarView] = []
            let scalars = text.unicodeScalars
            var start = scalars.startIndex
            var index = start
            while index < scalars.endIndex {
                let s = scalars[index]
                if s.properties.isWhitespace {
                    parts.append(scalars[start..<index])
                    start = scalars.index(after: index)
                } else if Self.isBertPunctuation(s) {
                    parts.append(scalars[start..<index])
                    parts.append(scalars[index...index])
                    start = scalars.index(after: index)
                }
                index = scalars.index(after: index)
            }
            parts.append(scalars[start...])
            return pieces(parts)
        case .whitespace:
            return pieces(text.matches(of: Self.whitespacePattern).map { Substring($0.range.isEmpty ? "" : text[$0.range]).unicodeScalars })
        case .whitespaceSplit:
            return pieces(text.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { Substring.UnicodeScalarView($0) })
        case let .byteLevel(addPrefixSpace, useRegex):
            var source = text
            if addPrefixSpace, !source.hasPrefix(" ") { source = " " + source }
            let words: [Substring] = useRegex ? source.matches(of: Self.gpt2Pattern).map { source[$0.range] } : [Substring(source)]
            var first = piece.isFirst
            return words.filter { !$0.isEmpty }.map { word in
                defer { first = false }
                return Piece(text: ByteLevelAlphabet.encode(word), isFirst: first)
            }
        case let .split(pattern, behavior, invert):
            return pieces(Self.split(text, matches: pattern.matches(in: text), behavior: behavior, invert: invert))
        case let .metaspace(replacement, prepend, splitOnReplacement):
            var replaced = text.replacingOccurrences(of: " ", with: replacement)
            let shouldPrepend = prepend == .always || (prepend == .first && piece.isFirst)
            if shouldPrepend, !replaced.hasPrefix(replacement) { replaced = replacement + replaced }
            guard splitOnReplacement else { return [Piece(text: replaced, isFirst: piece.isFirst)] }
            let literal = try! Pattern(["String": replacement], json: JSONObject([:], file: "", context: ""))
            return pieces(Self.split(replaced, matches: literal.matches(in: replaced), behavior: .mergedWithNext, invert: false))
        case .digits(let individual):
            let pattern = try! Regex(individual ? #"\p{N}"# : #"\p{N}+"#).matchingSemantics(.unicodeScalar)
            return pieces(Self.split(text, matches: text.matches(of: pattern).map(\.range), behavior: .isolated, invert: false))
        case .punctuation:
            let pattern = try! Regex(#"\p{P}"#).matchingSemantics(.unicodeScalar)
            return pieces(Self.split(text, matches: text.matches(of: pattern).map(\.range), behavior: .isolated, invert: false))
        case .sequence:
            return apply([piece])
        }
    }

    /// Splits around `matches` the way tokenizers' `SplitDelimiterBehavior` does.
    static func split(
        _ text: String, matches: [Range<String.Index>], behavior: SplitBehavior,
        invert: Bool
    ) -> [Substring.UnicodeScalarView] {
        // Spans alternate between "not matched" and "matched" (or the reverse with invert).
        var spans: [(Range<String.Index>, isDelimiter: Bool)] = []
        var last = text.startIndex
        for range in matches {
            if last < range.lowerBound { spans.append((last..<range.lowerBound, invert)) }
            spans.append((range, !invert))
            last = range.upperBound
        }
        if last < text.endIndex { spans.append((last..<text.endIndex, invert)) }
        var out: [Range<String.Index>] = []
        switch behavior {
        case .removed:
            out = spans.filter { !$0.isDelimiter }.map(\.0)
        case .isolated:
            out = spans.map(\.0)
        case .mergedWithPrevious:
            var previousWasContent = false
            for span in spans {
                if span.isDelimiter, previousWasContent, let previous = out.last {
                    out[out.count - 1] = previous.lowerBound..<span.0.upperBound
                } else {
                    out.append(span.0)
                }
                previousWasContent = !span.isDelimiter
            }
        case .mergedWithNext:
            var pending: Range<String.Index>?
            for span in spans {
                if span.isDelimiter {
                    if let p = pending { out.append(p) }
                    pending = span.0
                } else if let p = pending {
                    out.append(p.lowerBound..<span.0.upperBound)
                    pending = nil
                } else {
                    out.append(span.0)
                }
            }
            if let p = pending { out.append(p) }
        case .contiguous:
            var previousWasDelimiter = false
            for span in spans {
                if span.isDelimiter, previousWasDelimiter, let previous = out.last {
                    out[out.count - 1] = previous.lowerBound..<span.0.upperBound
                } else {
                    out.append(span.0)
                }
                previousWasDelimiter = span.isDelimiter
            }
        }
        return out.map { text.unicodeScalars[$0] }
    }

    static func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII,
            (33...47).contains(s.value) || (58...64).contains(s.value) || (91...96).contains(s.value) || (123...126).contains(s.value)
        {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
