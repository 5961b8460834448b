import Foundation

/// Arithmetic, concatenation and comparison with Python's rules: int op int stays int (true division excepted),
/// floor division and modulo round toward negative infinity, bools count as ints. Python's ints never overflow;
/// ours are 64-bit, so an overflow throws instead of trapping.
extension Interpreter {
    func unary(_ op: String, _ value: Value, line: Int) throws -> Value {
        if case let .undefined(why) = value { throw TemplateError(.undefined, why, line: line) }
        switch (op, value.number) {
        case let ("-", .int(i)?):
            guard i != .min else { throw overflow(line) }
            return .int(-i)
        case let ("-", .double(d)?): return .double(-d)
        case ("+", let number?): return number
        default: throw TemplateError(.type, "bad operand type for unary \(op): '\(value.typeName)'", line: line)
        }
    }

    private func overflow(_ line: Int) -> TemplateError {
        TemplateError(.type, "integer overflow (Python would use a big integer)", line: line)
    }

    private func unsupported(_ op: String, _ a: Value, _ b: Value, _ line: Int) -> TemplateError {
        TemplateError(.type, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'", line: line)
    }

    func binary(_ op: String, _ a: Value, _ b: Value, line: Int) throws -> Value {
        if op == "~" {
            let text = PythonText.str(a) + PythonText.str(b)
            try checkSize(text.utf8.count, line: line)
            return .string(text)
        }
        if case let .undefined(why) = a { throw TemplateError(.undefined, why, line: line) }
        if case let .undefined(why) = b { throw TemplateError(.undefined, why, line: line) }
        switch (op, a, b) {
        case let ("+", .string(x), .string(y)):
            try checkSize(x.utf8.count + y.utf8.count, line: line)
            return .string(x + y)
        case let ("+", .array(x), .array(y)):
            try checkSize(x.count + y.count, line: line)
            return .array(x + y)
        case ("+", .string, _):
            throw TemplateError(.type, "can only concatenate str (not \"\(b.typeName)\") to str", line: line)
        case ("+", .array, _):
            throw TemplateError(.type, "can only concatenate list (not \"\(b.typeName)\") to list", line: line)
        case ("*", .string, _), ("*", .array, _), ("*", _, .string), ("*", _, .array):
            return try repeatSequence(a, b, line: line)
        default:
            break
        }
        guard let x = a.number, let y = b.number else { throw unsupported(op, a, b, line) }
        if case let .int(i) = x, case let .int(j) = y { return try integerArithmetic(op, i, j, line: line) }
        return try floatArithmetic(op, x.asDouble, y.asDouble, line: line)
    }

    private func repeatSequence(_ a: Value, _ b: Value, line: Int) throws -> Value {
        let (sequence, times): (Value, Value) = a.number == nil ? (a, b) : (b, a)
        guard case let .int(count)? = times.number else {
            throw TemplateError(.type, "can't multiply sequence by non-int of type '\(times.typeName)'", line: line)
        }
        let n = max(count, 0)
        switch sequence {
        case let .string(text):
            let (total, overflowed) = text.utf8.count.multipliedReportingOverflow(by: n)
            try checkSize(overflowed ? .max : total, line: line)
            return .string(String(repeating: text, count: n))
        case let .array(items):
            let (total, overflowed) = items.count.multipliedReportingOverflow(by: n)
            try checkSize(overflowed ? .max : total, line: line)
            return .array(Array(repeatElement(items, count: n).joined()))
        default:
            throw unsupported("*", a, b, line)
        }
    }

    private func integerArithmetic(_ op: String, _ i: Int, _ j: Int, line: Int) throws -> Value {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
            guard !result.overflow else { throw overflow(line) }
            return .int(result.partialValue)
        }
        switch op {
        case "+": return try checked(i.addingReportingOverflow(j))
        case "-": return try checked(i.subtractingReportingOverflow(j))
        case "*": return try checked(i.multipliedReportingOverflow(by: j))
        case "/":
            guard j != 0 else { throw TemplateError(.type, "division by zero", line: line) }
            return .double(Double(i) / Double(j))
        case "//", "%":
            guard j != 0 else { throw TemplateError(.type, "integer division or modulo by zero", line: line) }
            guard !(i == .min && j == -1) else { throw overflow(line) }
            var quotient = i / j
            var remainder = i % j
            if remainder != 0 && ((remainder < 0) != (j < 0)) {
                quotient -= 1
                remainder += j
            }
            return .int(op == "//" ? quotient : remainder)
        case "**":
            if j < 0 {
                guard i != 0 else { throw TemplateError(.type, "0.0 cannot be raised to a negative power", line: line) }
                return .double(pow(Double(i), Double(j)))
            }
            var result = 1
            var base = i
            var exponent = j
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let (value, overflowed) = result.multipliedReportingOverflow(by: base)
                    guard !overflowed else { throw overflow(line) }
                    result = value
                }
                exponent >>= 1
                if exponent > 0 {
                    let (square, overflowed) = base.multipliedReportingOverflow(by: base)
                    guard !overflowed else { throw overflow(line) }
                    base = square
                }
            }
            return .int(result)
        default:
            throw TemplateError(.type, "unknown operator \(op)", line: line)
        }
    }

    private func floatArithmetic(_ op: String, _ x: Double, _ y: Double, line: Int) throws -> Value {
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw TemplateError(.type, "float division by zero", line: line) }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw TemplateError(.type, "float floor division by zero", line: line) }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw TemplateError(.type, "float modulo", line: line) }
            var remainder = fmod(x, y)
            if remainder != 0 && ((remainder < 0) != (y < 0)) { remainder += y }
            return .double(remainder)
        case "**":
            if x == 0 && y < 0 { throw TemplateError(.type, "0.0 cannot be raised to a negative power", line: line) }
            return .double(pow(x, y))
        default:
            throw TemplateError(.type, "unknown operator \(op)", line: line)
        }
    }

    /// One comparison of a chain: `==`, `!=`, orderings, `in`, `not in`.
    func compare(_ op: String, _ a: Value, _ b: Value, line: Int) throws -> Bool {
        switch op {
        case "==": return a == b
        case "!=": return a != b
        case "in": return try contains(b, a, line: line)
        case "not in": return !(try contains(b, a, line: line))
        default:
            let order = try ordering(a, b, op: op, line: line)
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0 or 1 for values Python can order (numbers, strings, lists of those); a TypeError otherwise.
    func ordering(_ a: Value, _ b: Value, op: String = "<", line: Int?) throws -> Int {
        if let x = a.number, let y = b.number {
            if case let .int(i) = x, case let .int(j) = y { return i < j ? -1 : i > j ? 1 : 0 }
            let (p, q) = (x.asDouble, y.asDouble)
            return p < q ? -1 : p > q ? 1 : 0
        }
        switch (a, b) {
        case let (.string(x), .string(y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case let (.array(x), .array(y)):
            for (p, q) in zip(x, y) where p != q { return try ordering(p, q, op: op, line: line) }
            return x.count < y.count ? -1 : x.count > y.count ? 1 : 0
        case let (.undefined(why), _), let (_, .undefined(why)):
            throw TemplateError(.undefined, why, line: line)
        default:
            throw TemplateError(
                .type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'", line: line)
        }
    }

    /// Python's `item in container`.
    func contains(_ container: Value, _ item: Value, line: Int) throws -> Bool {
        switch container {
        case let .string(text):
            guard case let .string(part) = item else {
                throw TemplateError(.type, "'in <string>' requires string as left operand, not \(item.typeName)", line: line)
            }
            return part.isEmpty || text.unicodeScalars.firstRange(of: part.unicodeScalars) != nil
        case let .array(items): return items.contains(item)
        case let .object(object):
            guard case let .string(key) = item else { return false }
            return object[key] != nil
        case .undefined: return false
        default:
            throw TemplateError(.type, "argument of type '\(container.typeName)' is not iterable", line: line)
        }
    }
}
