import Foundation

/// A filter's arguments, read by position or by keyword as Python binds them.
struct FilterArguments {
    var positional: [Value]
    var keywords: [(String, Value)]

    /// The argument at `index` (counting after the filtered value) or named `name`.
    func get(_ index: Int, _ name: String) -> Value? {
        if let found = keywords.first(where: { $0.0 == name }) { return found.1 }
        return index < positional.count ? positional[index] : nil
    }

    func int(_ index: Int, _ name: String, default fallback: Int) throws -> Int {
        guard let value = get(index, name), value != .none else { return fallback }
        guard case let .int(i)? = value.number else { throw TemplateError(.type, "\(name) must be an integer, not \(value.typeName)") }
        return i
    }

    func bool(_ index: Int, _ name: String, default fallback: Bool = false) -> Bool {
        get(index, name)?.isTruthy ?? fallback
    }

    func string(_ index: Int, _ name: String) -> String? {
        guard let value = get(index, name), value != .none, !value.isUndefined else { return nil }
        return PythonText.str(value)
    }
}

/// Jinja's built-in filters that chat templates use, and transformers' `tojson`.
extension Interpreter {
    static let filterNames: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max",
        "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort",
        "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]

    func applyFilter(_ name: String, to value: Value, _ arguments: CallArguments, in scope: Scope, line: Int) throws -> Value {
        let evaluated = try evaluateArguments(arguments, in: scope)
        do {
            return try filter(name, value, FilterArguments(positional: evaluated.positional, keywords: evaluated.keywords), line: line)
        } catch var error as TemplateError {
            if error.line == nil { error.line = line }
            throw error
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    func filter(_ name: String, _ value: Value, _ arguments: FilterArguments, line: Int) throws -> Value {
        switch name {
        case "default", "d":
            let useDefault = arguments.bool(1, "boolean") ? !value.isTruthy : value.isUndefined
            return useDefault ? arguments.get(0, "default_value") ?? .string("") : value
        case "length", "count":
            switch value {
            case let .string(text): return .int(text.unicodeScalars.count)
            case let .array(items): return .int(items.count)
            case let .object(object): return .int(object.count)
            case .undefined: return .int(0)
            default: throw TemplateError(.type, "object of type '\(value.typeName)' has no len()")
            }
        case "string": return .string(PythonText.str(value))
        case "safe": return value
        case "e", "escape", "forceescape": return .string(Self.escapeHTML(PythonText.str(value)))
        case "tojson": return try toJSON(value, arguments)
        case "trim": return .string(Text.strip(try text(value, name), arguments.string(0, "chars")))
        case "upper": return .string(try text(value, name).uppercased())
        case "lower": return .string(try text(value, name).lowercased())
        case "title": return .string(Text.jinjaTitle(try text(value, name)))
        case "capitalize": return .string(Text.capitalize(try text(value, name)))
        case "center":
            let text = try text(value, name)
            let width = try arguments.int(0, "width", default: 80)
            let count = text.unicodeScalars.count
            guard width > count else { return .string(text) }
            try checkSize(width, line: line)
            let left = (width - count) / 2 + ((width - count) & width & 1)
            return .string(String(repeating: " ", count: left) + text + String(repeating: " ", count: width - count - left))
        case "replace":
            guard let old = arguments.string(0, "old"), let new = arguments.string(1, "new") else {
                throw TemplateError(.type, "replace needs old and new strings")
            }
            let result = Text.replace(try text(value, name), old, new, count: try arguments.int(2, "count", default: -1))
            try checkSize(result.utf8.count, line: line)
            return .string(result)
        case "indent": return .string(try indent(try text(value, name), arguments))
        case "wordcount":
            let words = try text(value, name).unicodeScalars.split {
                !($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_")
            }
            return .int(words.count)
        case "join":
            var items = try Text.items(value)
            if let attribute = arguments.string(1, "attribute") { items = try items.map { try lookupPath($0, attribute, line: line) } }
            let result = items.map(PythonText.str).joined(separator: arguments.string(0, "d") ?? "")
            try checkSize(result.utf8.count, line: line)
            return .string(result)
        case "first": return try Text.items(value).first ?? .undefined("No first item, sequence was empty.")
        case "last": return try Text.items(value).last ?? .undefined("No last item, sequence was empty.")
        case "list": return .array(try Text.items(value))
        case "reverse":
            if case let .string(text) = value { return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed()))) }
            return .array(try Text.items(value).reversed())
        case "items":
            switch value {
            case let .object(object): return .array(object.pairs.map { .array([.string($0.key), $0.value]) })
            case .undefined: return .array([])
            default: throw TemplateError(.type, "Can only get item pairs from a mapping.")
            }
        case "dictsort": return try dictsort(value, arguments, line: line)
        case "sort": return try sort(value, arguments, line: line)
        case "unique": return try unique(value, arguments, line: line)
        case "min", "max": return try extreme(value, arguments, largest: name == "max", line: line)
        case "sum":
            var items = try Text.items(value)
            if let attribute = arguments.string(0, "attribute") { items = try items.map { try lookupPath($0, attribute, line: line) } }
            var total: Value = arguments.get(1, "start") ?? Value.int(0)
            for item in items { total = try binary("+", total, item, line: line) }
            return total
        case "int": return try toInt(value, arguments)
        case "float": return try toFloat(value, arguments)
        case "abs":
            switch value.number {
            case let .int(i)?:
                guard i != .min else { throw TemplateError(.type, "integer overflow") }
                return .int(abs(i))
            case let .double(d)?: return .double(abs(d))
            default: throw TemplateError(.type, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "round": return try round(value, arguments)
        case "attr":
            guard let attribute = arguments.string(0, "name") else { throw TemplateError(.type, "attr needs a name") }
            // Only the Python attribute, never the dict item.
            if case .object = value {
                return Methods.bound(attribute, on: value) ?? .undefined("'dict object' has no attribute '\(attribute)'")
            }
            return try self.attribute(of: value, attribute, line: line)
        case "map": return try map(value, arguments, line: line)
        case "select", "reject": return try select(value, arguments, keep: name == "select", attribute: false, line: line)
        case "selectattr", "rejectattr": return try select(value, arguments, keep: name == "selectattr", attribute: true, line: line)
        case "batch":
            let size = try arguments.int(0, "linecount", default: 1)
            guard size > 0 else { throw TemplateError(.type, "batch size must be positive") }
            let items = try Text.items(value)
            let fill = arguments.get(1, "fill_with")
            var batches: [Value] = []
            for start in stride(from: 0, to: items.count, by: size) {
                var chunk = Array(items[start..<min(start + size, items.count)])
                if let fill, fill != .none, chunk.count < size { chunk += Array(repeating: fill, count: size - chunk.count) }
                batches.append(.array(chunk))
            }
            return .array(batches)
        default:
            throw TemplateError(.unknownFilter, "No filter named '\(name)'.")
        }
    }

    private func text(_ value: Value, _ filter: String) throws -> String {
        if case let .undefined(why) = value, filter != "trim" && filter != "lower" && filter != "upper" {
            throw TemplateError(.undefined, why)
        }
        return PythonText.str(value)
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    private func toJSON(_ value: Value, _ arguments: FilterArguments) throws -> Value {
        var indent: String?
        switch arguments.get(1, "indent") {
        case let .int(n)?: indent = String(repeating: " ", count: max(n, 0))
        case let .string(s)?: indent = s
        default: indent = nil
        }
        var separators: (String, String)?
        if case let .array(pair)? = arguments.get(2, "separators"), pair.count == 2 {
            separators = (PythonText.str(pair[0]), PythonText.str(pair[1]))
        }
        let writer = JSONWriter(
            indent: indent, separators: separators, sortKeys: arguments.bool(3, "sort_keys"), ensureASCII: arguments.bool(0, "ensure_ascii")
        )
        let text = try writer.write(value)
        try checkSize(text.utf8.count)
        return .string(text)
    }

    private func indent(_ text: String, _ arguments: FilterArguments) throws -> String {
        let width = arguments.get(0, "width") ?? .int(4)
        let indention: String
        if case let .string(s) = width {
            indention = s
        } else {
            indention = String(repeating: " ", count: max(0, try arguments.int(0, "width", default: 4)))
        }
        let lines = Self.splitLines(text + "\n")
        var result: String
        if arguments.bool(2, "blank") {
            result = lines.joined(separator: "\n" + indention)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty { result += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        if arguments.bool(1, "first") { result = indention + result }
        try checkSize(result.utf8.count)
        return result
    }

    /// Python's `str.splitlines()`: every line boundary Python knows, no trailing empty piece.
    static func splitLines(_ text: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" && previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = scalar == "\r"
            if ["\n", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1D}", "\u{1E}", "\u{85}", "\u{2028}", "\u{2029}"].contains(scalar) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// `attribute="a.b.0"` as Jinja resolves it: item lookups one part at a time.
    func lookupPath(_ value: Value, _ path: String, line: Int) throws -> Value {
        var current = value
        for part in path.split(separator: ".") {
            let key: Value = Int(part).map { .int($0) } ?? .string(String(part))
            current = try item(of: current, key, line: line)
        }
        return current
    }

    /// The sort key of case-insensitive filters: strings lowercased.
    private func foldCase(_ value: Value, _ caseSensitive: Bool) -> Value {
        if !caseSensitive, case let .string(text) = value { return .string(text.lowercased()) }
        return value
    }

    private func sort(_ value: Value, _ arguments: FilterArguments, line: Int) throws -> Value {
        let reverse = arguments.bool(0, "reverse")
        let caseSensitive = arguments.bool(1, "case_sensitive")
        let attribute = arguments.string(2, "attribute")
        let keyed = try Text.items(value).map { item in
            (try attribute.map { try lookupPath(item, $0, line: line) } ?? item, item)
        }
        let sorted = try keyed.sorted { a, b in
            let order = try ordering(foldCase(a.0, caseSensitive), foldCase(b.0, caseSensitive), line: line)
            return reverse ? order > 0 : order < 0
        }
        return .array(sorted.map(\.1))
    }

    private func dictsort(_ value: Value, _ arguments: FilterArguments, line: Int) throws -> Value {
        guard case let .object(object) = value else { throw TemplateError(.type, "dictsort expects a mapping") }
        let caseSensitive = arguments.bool(0, "case_sensitive")
        let byValue = arguments.string(1, "by") == "value"
        let reverse = arguments.bool(2, "reverse")
        let sorted = try object.pairs.sorted { a, b in
            let (x, y): (Value, Value) = byValue ? (a.value, b.value) : (.string(a.key), .string(b.key))
            let order = try ordering(foldCase(x, caseSensitive), foldCase(y, caseSensitive), line: line)
            return reverse ? order > 0 : order < 0
        }
        return .array(sorted.map { .array([.string($0.key), $0.value]) })
    }

    private func unique(_ value: Value, _ arguments: FilterArguments, line: Int) throws -> Value {
        let caseSensitive = arguments.bool(0, "case_sensitive")
        let attribute = arguments.string(1, "attribute")
        var seen: [Value] = []
        var kept: [Value] = []
        for item in try Text.items(value) {
            let key = foldCase(try attribute.map { try lookupPath(item, $0, line: line) } ?? item, caseSensitive)
            if !seen.contains(key) {
                seen.append(key)
                kept.append(item)
            }
        }
        return .array(kept)
    }

    private func extreme(_ value: Value, _ arguments: FilterArguments, largest: Bool, line: Int) throws -> Value {
        let caseSensitive = arguments.bool(0, "case_sensitive")
        let attribute = arguments.string(1, "attribute")
        var best: (key: Value, item: Value)?
        for item in try Text.items(value) {
            let key = foldCase(try attribute.map { try lookupPath(item, $0, line: line) } ?? item, caseSensitive)
            if let current = best {
                let order = try ordering(key, current.key, line: line)
                if largest ? order > 0 : order < 0 { best = (key, item) }
            } else {
                best = (key, item)
            }
        }
        return best?.item ?? .undefined("No aggregated item, sequence was empty.")
    }

    private func toInt(_ value: Value, _ arguments: FilterArguments) throws -> Value {
        let fallback = arguments.get(0, "default") ?? .int(0)
        let base = try arguments.int(1, "base", default: 10)
        switch value {
        case let .int(i): return .int(i)
        case let .bool(b): return .int(b ? 1 : 0)
        case let .double(d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
        case let .string(text):
            let trimmed = Text.strip(text, nil).replacingOccurrences(of: "_", with: "")
            if let i = Int(trimmed, radix: base) { return .int(i) }
            if base == 10, let d = Double(trimmed), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return fallback
        default: return fallback
        }
    }

    private func toFloat(_ value: Value, _ arguments: FilterArguments) throws -> Value {
        let fallback = arguments.get(0, "default") ?? .double(0)
        switch value {
        case let .int(i): return .double(Double(i))
        case let .bool(b): return .double(b ? 1 : 0)
        case .double: return value
        case let .string(text): return Double(Text.strip(text, nil)).map { .double($0) } ?? fallback
        default: return fallback
        }
    }

    private func round(_ value: Value, _ arguments: FilterArguments) throws -> Value {
        guard let number = value.number else { throw TemplateError(.type, "type \(value.typeName) doesn't define __round__ method") }
        let precision = try arguments.int(0, "precision", default: 0)
        let method = arguments.string(1, "method") ?? "common"
        let x = number.asDouble
        let scale = pow(10.0, Double(precision))
        switch method {
        case "common":
            // Python rounds the exact binary value half to even (round(2.675, 2) is 2.67); printf does the same.
            guard (0...30).contains(precision), x.isFinite else { return .double((x * scale).rounded(.toNearestOrEven) / scale) }
            return .double(Double(String(format: "%.\(precision)f", x)) ?? x)
        case "ceil": return .double((x * scale).rounded(.up) / scale)
        case "floor": return .double((x * scale).rounded(.down) / scale)
        default: throw TemplateError(.type, "method must be common, ceil or floor")
        }
    }

    private func map(_ value: Value, _ arguments: FilterArguments, line: Int) throws -> Value {
        let items = try Text.items(value)
        if let attribute = arguments.keywords.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = arguments.keywords.first { $0.0 == "default" }?.1
            return .array(
                try items.map { item in
                    let found = try lookupPath(item, PythonText.str(attribute), line: line)
                    return found.isUndefined ? fallback ?? found : found
                })
        }
        guard case let .string(filterName)? = arguments.positional.first else {
            throw TemplateError(.type, "map requires a filter name or attribute=")
        }
        guard Self.filterNames.contains(filterName) else { throw TemplateError(.unknownFilter, "No filter named '\(filterName)'.") }
        let rest = FilterArguments(positional: Array(arguments.positional.dropFirst()), keywords: arguments.keywords)
        return .array(try items.map { try filter(filterName, $0, rest, line: line) })
    }

    private func select(_ value: Value, _ arguments: FilterArguments, keep: Bool, attribute: Bool, line: Int) throws -> Value {
        var positional = arguments.positional
        var path: String?
        if attribute {
            guard !positional.isEmpty else { throw TemplateError(.type, "selectattr needs an attribute name") }
            path = PythonText.str(positional.removeFirst())
        }
        let testName = positional.isEmpty ? nil : PythonText.str(positional.removeFirst())
        if let testName, !Self.testNames.contains(testName) { throw TemplateError(.unknownFilter, "No test named '\(testName)'.") }
        return .array(
            try Text.items(value).filter { item in
                try step(line: line)
                let subject = try path.map { try lookupPath(item, $0, line: line) } ?? item
                let passed = try testName.map { try runTest($0, subject, positional, line: line) } ?? subject.isTruthy
                return passed == keep
            })
    }
}
