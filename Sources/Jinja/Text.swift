import Foundation

/// Python's string operations on Unicode scalars (Python strings index code points, not grapheme clusters, so
/// `len`, slicing and `split` must not use Swift's `Character`).
enum Text {
    /// `str.strip(chars)`: whitespace (Python's `isspace`) when `chars` is nil.
    static func strip(_ text: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ scalar: Unicode.Scalar) -> Bool { set.map { $0.contains(scalar) } ?? PythonText.isSpace(scalar) }
        let scalars = Array(text.unicodeScalars)
        var start = 0
        var end = scalars.count
        if leading { while start < end, drop(scalars[start]) { start += 1 } }
        if trailing { while end > start, drop(scalars[end - 1]) { end -= 1 } }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }

    /// `str.split(sep, maxsplit)` and `rsplit`: runs of whitespace (no empty pieces) when `separator` is nil.
    static func split(_ text: String, _ separator: String?, limit: Int, fromRight: Bool) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let piece = { (range: Range<Int>) in String(String.UnicodeScalarView(scalars[range])) }
        guard let separator else {
            var ranges: [Range<Int>] = []
            var i = 0
            while i < scalars.count {
                while i < scalars.count, PythonText.isSpace(scalars[i]) { i += 1 }
                guard i < scalars.count else { break }
                let start = i
                while i < scalars.count, !PythonText.isSpace(scalars[i]) { i += 1 }
                ranges.append(start..<i)
            }
            guard limit >= 0, ranges.count > limit + 1 else { return ranges.map(piece) }
            if fromRight {
                let kept = ranges.suffix(limit)
                let head = strip(piece(0..<(kept.first?.lowerBound ?? scalars.count)), nil, leading: true, trailing: true)
                return [head] + kept.map(piece)
            }
            let kept = ranges.prefix(limit)
            let tail = strip(piece((kept.last?.upperBound ?? 0)..<scalars.count), nil, leading: true, trailing: false)
            return kept.map(piece) + [tail]
        }
        let needle = Array(separator.unicodeScalars)
        var cuts: [Int] = []
        var i = 0
        while i + needle.count <= scalars.count {
            if scalars[i..<i + needle.count].elementsEqual(needle) {
                cuts.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        if limit >= 0 && cuts.count > limit { cuts = fromRight ? Array(cuts.suffix(limit)) : Array(cuts.prefix(limit)) }
        var parts: [String] = []
        var start = 0
        for cut in cuts {
            parts.append(piece(start..<cut))
            start = cut + needle.count
        }
        parts.append(piece(start..<scalars.count))
        return parts
    }

    static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
        if old.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            var pieces = text.unicodeScalars.map { String($0) }
            let limit = count < 0 ? pieces.count + 1 : min(count, pieces.count + 1)
            var out = ""
            for index in 0..<limit {
                out += new
                if index < pieces.count { out += pieces[index] }
            }
            if limit <= pieces.count { pieces.removeFirst(limit) } else { pieces.removeAll() }
            return out + pieces.joined()
        }
        let parts = split(text, old, limit: count, fromRight: false)
        return parts.joined(separator: new)
    }

    static func find(_ scalars: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> Int? {
        guard needle.count <= scalars.count else { return nil }
        for i in 0...(scalars.count - needle.count) where scalars[i..<i + needle.count].elementsEqual(needle) { return i }
        return nil
    }

    static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return text }
        return String(first).uppercased() + String(String.UnicodeScalarView(text.unicodeScalars.dropFirst())).lowercased()
    }

    /// `str.title()`: a letter after a non-letter starts a word.
    static func pythonTitle(_ text: String) -> String {
        var out = ""
        var previousIsLetter = false
        for scalar in text.unicodeScalars {
            let isLetter = scalar.properties.isAlphabetic
            out += previousIsLetter ? String(scalar).lowercased() : String(scalar).uppercased()
            previousIsLetter = isLetter
        }
        return out
    }

    /// Jinja's `title` filter: words start after whitespace, `-`, `(`, `{`, `[` or `<`.
    static func jinjaTitle(_ text: String) -> String {
        var out = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let boundary = PythonText.isSpace(scalar) || "-({[<".unicodeScalars.contains(scalar)
            if boundary {
                out.unicodeScalars.append(scalar)
                atWordStart = true
            } else {
                out += atWordStart ? String(scalar).uppercased() : String(scalar).lowercased()
                atWordStart = false
            }
        }
        return out
    }

    /// The items of something iterable, for filters and methods (dict keys, string characters).
    static func items(_ value: Value) throws -> [Value] {
        switch value {
        case let .array(items): return items
        case let .object(object): return object.keys.map { .string($0) }
        case let .string(text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError(.type, "'\(value.typeName)' object is not iterable")
        }
    }

    /// `str.format` with `{}`, `{0}` and `{name}` fields (no format specs), and `{{`/`}}` escapes.
    static func format(_ template: String, _ arguments: Value.Arguments) throws -> String {
        var out = ""
        var automatic = 0
        var iterator = template.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            if scalar == "}" {
                guard iterator.next() == "}" else { throw TemplateError(.type, "Single '}' encountered in format string") }
                out += "}"
                continue
            }
            guard scalar == "{" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            var field = ""
            var closed = false
            while let next = iterator.next() {
                if next == "{" && field.isEmpty {
                    out += "{"
                    closed = true
                    field = "\u{0}"
                    break
                }
                if next == "}" {
                    closed = true
                    break
                }
                field.unicodeScalars.append(next)
            }
            guard closed else { throw TemplateError(.type, "Single '{' encountered in format string") }
            if field == "\u{0}" { continue }
            let value: Value?
            if field.isEmpty {
                value = automatic < arguments.positional.count ? arguments.positional[automatic] : nil
                automatic += 1
            } else if let index = Int(field) {
                value = index < arguments.positional.count ? arguments.positional[index] : nil
            } else {
                value = arguments.keywords.first { $0.0 == field }?.1
            }
            guard let value else { throw TemplateError(.type, "Replacement index \(field) out of range for positional args tuple") }
            out += PythonText.str(value)
        }
        return out
    }
}
