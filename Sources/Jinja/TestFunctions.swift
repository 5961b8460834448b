import Foundation

/// Jinja's tests (`x is defined`, `n is divisibleby 3`…), with Python's type rules: bools are numbers but not
/// integers, strings are iterable sequences.
extension Interpreter {
    static let testNames: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
        "boolean", "true", "false", "even", "odd", "divisibleby", "equalto", "eq", "==", "ne", "!=", "lt", "<",
        "le", "<=", "gt", ">", "ge", ">=", "in", "sameas", "callable", "lower", "upper", "escaped", "filter", "test",
    ]

    func runTest(_ name: String, _ value: Value, _ arguments: [Value], line: Int) throws -> Bool {
        func argument() throws -> Value {
            guard let first = arguments.first else { throw TemplateError(.type, "test '\(name)' needs an argument", line: line) }
            return first
        }
        func integer() throws -> Int {
            guard case let .int(i)? = value.number else {
                if case let .undefined(why) = value { throw TemplateError(.undefined, why, line: line) }
                throw TemplateError(.type, "test '\(name)' needs an integer, not \(value.typeName)", line: line)
            }
            return i
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "string":
            if case .string = value { return true }
            return false
        case "number": return value.number != nil
        case "integer":
            if case .int = value { return true }
            return false
        case "float":
            if case .double = value { return true }
            return false
        case "boolean":
            if case .bool = value { return true }
            return false
        case "true": return value == .bool(true) && { if case .bool = value { return true } else { return false } }()
        case "false": return value == .bool(false) && { if case .bool = value { return true } else { return false } }()
        case "mapping":
            if case .object = value { return true }
            return false
        case "iterable":
            switch value {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .string, .array, .object: return true
            default: return false
            }
        case "callable":
            if case .callable = value { return true }
            return false
        case "even": return try integer() % 2 == 0
        case "odd": return try integer() % 2 != 0
        case "divisibleby":
            guard case let .int(divisor)? = try argument().number, divisor != 0 else {
                throw TemplateError(.type, "divisibleby needs a non-zero integer", line: line)
            }
            return try integer() % divisor == 0
        case "equalto", "eq", "==": return value == (try argument())
        case "ne", "!=": return value != (try argument())
        case "lt", "<": return try ordering(value, try argument(), op: "<", line: line) < 0
        case "le", "<=": return try ordering(value, try argument(), op: "<=", line: line) <= 0
        case "gt", ">": return try ordering(value, try argument(), op: ">", line: line) > 0
        case "ge", ">=": return try ordering(value, try argument(), op: ">=", line: line) >= 0
        case "in": return try contains(try argument(), value, line: line)
        case "sameas": return try sameObject(value, try argument())
        case "lower":
            guard case let .string(text) = value else { return false }
            return text == text.lowercased()
        case "upper":
            guard case let .string(text) = value else { return false }
            return text == text.uppercased()
        case "escaped": return false
        case "filter": return Self.filterNames.contains(PythonText.str(value))
        case "test": return Self.testNames.contains(PythonText.str(value))
        default: throw TemplateError(.unknownFilter, "No test named '\(name)'.", line: line)
        }
    }

    /// Python's `is` as far as values without identity allow: singletons and shared references.
    private func sameObject(_ a: Value, _ b: Value) throws -> Bool {
        switch (a, b) {
        case (.none, .none), (.undefined, .undefined): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y && (-5...256).contains(x)
        case let (.namespace(x), .namespace(y)): return x === y
        case let (.callable(x), .callable(y)): return x === y
        default: return false
        }
    }
}
