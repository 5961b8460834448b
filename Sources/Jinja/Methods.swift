import Foundation

/// The Python methods templates call on values: `str.strip()`, `dict.items()`, `dict.get()`… Methods that mutate
/// (`list.append`, `dict.update`) are refused as transformers' immutable sandbox refuses them.
enum Methods {
    private static let mutating: [String: Set<String>] = [
        "list": ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"],
        "dict": ["pop", "popitem", "setdefault", "update", "clear"],
    ]

    /// `name` bound to `value` as a callable, or nil when that type has no such method.
    static func bound(_ name: String, on value: Value) -> Value? {
        if let forbidden = mutating[value.typeName], forbidden.contains(name) {
            return .callable(
                Value.Callable(name: name) { _, _ in
                    throw TemplateError(.security, "access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
                })
        }
        let method: ((Value.Arguments) throws -> Value)?
        switch value {
        case let .string(text): method = stringMethod(name, text)
        case let .object(object): method = dictMethod(name, object)
        case let .array(items): method = listMethod(name, items)
        default: method = nil
        }
        guard let method else { return nil }
        return .callable(
            Value.Callable(name: name, display: "<built-in method \(name) of \(value.typeName) object>") { arguments, _ in
                try method(arguments)
            })
    }

    private static func dictMethod(_ name: String, _ object: Value.Object) -> ((Value.Arguments) throws -> Value)? {
        switch name {
        case "items": return { _ in .array(object.pairs.map { .array([.string($0.key), $0.value]) }) }
        case "keys": return { _ in .array(object.keys.map { .string($0) }) }
        case "values": return { _ in .array(object.values) }
        case "get":
            return { arguments in
                guard let key = arguments.positional.first else { throw TemplateError(.type, "get expected at least 1 argument, got 0") }
                guard case let .string(name) = key else { return arguments.positional.dropFirst().first ?? .none }
                return object[name] ?? arguments.positional.dropFirst().first ?? .none
            }
        case "copy": return { _ in .object(object) }
        default: return nil
        }
    }

    private static func listMethod(_ name: String, _ items: [Value]) -> ((Value.Arguments) throws -> Value)? {
        switch name {
        case "count": return { arguments in .int(items.filter { $0 == arguments.positional.first ?? .none }.count) }
        case "index":
            return { arguments in
                let wanted = arguments.positional.first ?? .none
                guard let index = items.firstIndex(of: wanted) else {
                    throw TemplateError(.type, "\(PythonText.repr(wanted)) is not in list")
                }
                return .int(index)
            }
        case "copy": return { _ in .array(items) }
        default: return nil
        }
    }

    private static func string(_ arguments: Value.Arguments, _ index: Int, _ method: String) throws -> String? {
        guard index < arguments.positional.count else { return nil }
        switch arguments.positional[index] {
        case .none: return nil
        case let .string(text): return text
        case let other: throw TemplateError(.type, "\(method) arg must be None or str, not \(other.typeName)")
        }
    }

    private static func stringMethod(_ name: String, _ text: String) -> ((Value.Arguments) throws -> Value)? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return { arguments in
                let chars = try string(arguments, 0, name)
                return .string(Text.strip(text, chars, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "upper": return { _ in .string(text.uppercased()) }
        case "lower": return { _ in .string(text.lowercased()) }
        case "title": return { _ in .string(Text.pythonTitle(text)) }
        case "capitalize": return { _ in .string(Text.capitalize(text)) }
        case "startswith", "endswith":
            return { arguments in
                let candidates: [Value]
                switch arguments.positional.first {
                case let .array(items)?: candidates = items
                case let single?: candidates = [single]
                case nil: throw TemplateError(.type, "\(name) takes at least 1 argument (0 given)")
                }
                for candidate in candidates {
                    guard case let .string(affix) = candidate else {
                        throw TemplateError(.type, "\(name) first arg must be str or a tuple of str, not \(candidate.typeName)")
                    }
                    let hit =
                        name == "startswith"
                        ? text.unicodeScalars.starts(with: affix.unicodeScalars)
                        : text.unicodeScalars.reversed().starts(with: affix.unicodeScalars.reversed())
                    if hit { return .bool(true) }
                }
                return .bool(false)
            }
        case "split", "rsplit":
            return { arguments in
                let separator = try string(arguments, 0, name)
                var limit = -1
                if arguments.positional.count > 1, case let .int(n)? = arguments.positional[1].number { limit = n }
                if let found = arguments.keywords.first(where: { $0.0 == "maxsplit" }), case let .int(n)? = found.1.number { limit = n }
                if separator == "" { throw TemplateError(.type, "empty separator") }
                let parts = Text.split(text, separator, limit: limit, fromRight: name == "rsplit")
                return .array(parts.map { .string($0) })
            }
        case "splitlines": return { _ in .array(text.split(omittingEmptySubsequences: false) { $0.isNewline }.map { .string(String($0)) }) }
        case "replace":
            return { arguments in
                guard arguments.positional.count >= 2, case let .string(old) = arguments.positional[0],
                    case let .string(new) = arguments.positional[1]
                else { throw TemplateError(.type, "replace expects two strings") }
                var count = -1
                if arguments.positional.count > 2, case let .int(n)? = arguments.positional[2].number { count = n }
                return .string(Text.replace(text, old, new, count: count))
            }
        case "join":
            return { arguments in
                let items = try (arguments.positional.first.map { try Text.items($0) } ?? [])
                return .string(
                    try items.map { item -> String in
                        guard case let .string(piece) = item else {
                            throw TemplateError(.type, "sequence item: expected str instance, \(item.typeName) found")
                        }
                        return piece
                    }.joined(separator: text))
            }
        case "find", "count":
            return { arguments in
                guard case let .string(part)? = arguments.positional.first else { throw TemplateError(.type, "\(name) expects a string") }
                let scalars = Array(text.unicodeScalars)
                let needle = Array(part.unicodeScalars)
                if name == "find" { return .int(Text.find(scalars, needle) ?? -1) }
                return .int(Text.split(text, part, limit: -1, fromRight: false).count - 1)
            }
        case "isdigit": return { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal }) }
        case "isspace": return { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(PythonText.isSpace)) }
        case "format":
            return { arguments in .string(try Text.format(text, arguments)) }
        default: return nil
        }
    }
}
