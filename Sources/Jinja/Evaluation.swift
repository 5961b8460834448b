import Foundation

/// Expressions: names, lookups, calls, filters, tests and the logic operators (arithmetic is in Operators.swift).
extension Interpreter {
    func evaluate(_ expression: Expression, in scope: Scope) throws -> Value {
        try step()
        switch expression {
        case let .literal(value):
            return value
        case let .name(name, _):
            return scope.lookup(name) ?? .undefined("'\(name)' is undefined")
        case let .list(items), let .tuple(items):
            let values = try items.map { try evaluate($0, in: scope) }
            return .array(values)
        case let .dict(pairs):
            var object = Value.Object()
            for (keyExpression, valueExpression) in pairs {
                let key = try evaluate(keyExpression, in: scope)
                object[PythonText.str(key)] = try evaluate(valueExpression, in: scope)
            }
            return .object(object)
        case let .attribute(base, name, line):
            return try attribute(of: try evaluate(base, in: scope), name, line: line)
        case let .item(base, index, line):
            return try item(of: try evaluate(base, in: scope), try evaluate(index, in: scope), line: line)
        case let .slice(base, start, stop, stepExpression, line):
            let value = try evaluate(base, in: scope)
            let bounds = try [start, stop, stepExpression].map { try $0.map { try evaluate($0, in: scope) } }
            return try slice(value, bounds[0], bounds[1], bounds[2], line: line)
        case let .call(callee, arguments, line):
            let function = try evaluate(callee, in: scope)
            return try callValue(function, try evaluateArguments(arguments, in: scope), line: line)
        case let .filter(base, name, arguments, line):
            return try applyFilter(name, to: try evaluate(base, in: scope), arguments, in: scope, line: line)
        case let .test(base, name, arguments, negated, line):
            let value = try evaluate(base, in: scope)
            let evaluated = try evaluateArguments(arguments, in: scope)
            return .bool(try runTest(name, value, evaluated.positional, line: line) != negated)
        case let .unary(op, operand, line):
            return try unary(op, try evaluate(operand, in: scope), line: line)
        case let .binary(op, left, right, line):
            return try binary(op, try evaluate(left, in: scope), try evaluate(right, in: scope), line: line)
        case let .compare(first, operations, line):
            var left = try evaluate(first, in: scope)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression, in: scope)
                guard try compare(op, left, right, line: line) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .and(left, right):
            let value = try evaluate(left, in: scope)
            return value.isTruthy ? try evaluate(right, in: scope) : value
        case let .or(left, right):
            let value = try evaluate(left, in: scope)
            return value.isTruthy ? value : try evaluate(right, in: scope)
        case let .not(operand):
            return .bool(!(try evaluate(operand, in: scope).isTruthy))
        case let .conditional(condition, then, otherwise):
            if try evaluate(condition, in: scope).isTruthy { return try evaluate(then, in: scope) }
            return try otherwise.map { try evaluate($0, in: scope) } ?? .undefined("the inline if expression evaluated to false")
        }
    }

    func evaluateArguments(_ arguments: CallArguments, in scope: Scope) throws -> Value.Arguments {
        Value.Arguments(
            positional: try arguments.positional.map { try evaluate($0, in: scope) },
            keywords: try arguments.keywords.map { ($0.0, try evaluate($0.1, in: scope)) })
    }

    func callValue(_ function: Value, _ arguments: Value.Arguments, line: Int) throws -> Value {
        switch function {
        case let .callable(callable):
            do {
                return try callable.call(arguments, self)
            } catch var error as TemplateError {
                if error.line == nil { error.line = line }
                throw error
            }
        case let .undefined(why):
            throw TemplateError(.undefined, why, line: line)
        default:
            throw TemplateError(.type, "'\(function.typeName)' object is not callable", line: line)
        }
    }

    // MARK: Lookups

    /// `value.name`: Jinja's getattr tries the Python attribute (methods of str, dict, list) first, then the item.
    func attribute(of value: Value, _ name: String, line: Int) throws -> Value {
        switch value {
        case let .undefined(why):
            throw TemplateError(.undefined, why, line: line)
        case let .object(object):
            if let method = Methods.bound(name, on: value) { return method }
            return object[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case let .namespace(namespace):
            return namespace.attributes[name] ?? .undefined("'Namespace' object has no attribute '\(name)'")
        default:
            if let method = Methods.bound(name, on: value) { return method }
            return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
        }
    }

    /// `value[key]`: Jinja's getitem tries the item first, then the attribute; a missing one is undefined.
    func item(of value: Value, _ key: Value, line: Int) throws -> Value {
        switch (value, key) {
        case let (.undefined(why), _):
            throw TemplateError(.undefined, why, line: line)
        case let (.object(object), .string(name)):
            if let found = object[name] { return found }
            return Methods.bound(name, on: value) ?? .undefined("'dict object' has no attribute '\(name)'")
        case let (.namespace, .string(name)):
            return try attribute(of: value, name, line: line)
        case let (.array(items), _):
            guard case let .int(index)? = key.number else {
                if case .string(let name) = key { return try attribute(of: value, name, line: line) }
                throw TemplateError(.type, "list indices must be integers or slices, not \(key.typeName)", line: line)
            }
            let resolved = index < 0 ? items.count + index : index
            return items.indices.contains(resolved) ? items[resolved] : .undefined("'list object' has no element \(index)")
        case let (.string(text), _):
            guard case let .int(index)? = key.number else {
                if case .string(let name) = key { return try attribute(of: value, name, line: line) }
                throw TemplateError(.type, "string indices must be integers, not '\(key.typeName)'", line: line)
            }
            let scalars = Array(text.unicodeScalars)
            let resolved = index < 0 ? scalars.count + index : index
            return scalars.indices.contains(resolved) ? .string(String(scalars[resolved])) : .undefined("string index out of range")
        case let (_, .string(name)):
            return try attribute(of: value, name, line: line)
        default:
            return .undefined("'\(value.typeName) object' has no element \(PythonText.repr(key))")
        }
    }

    /// Python slicing of lists and strings, negative indices and steps included.
    func slice(_ value: Value, _ start: Value?, _ stop: Value?, _ step: Value?, line: Int) throws -> Value {
        func integer(_ bound: Value?) throws -> Int? {
            guard let bound, bound != .none else { return nil }
            guard case let .int(i)? = bound.number else {
                throw TemplateError(.type, "slice indices must be integers or None", line: line)
            }
            return i
        }
        let stride = try integer(step) ?? 1
        guard stride != 0 else { throw TemplateError(.type, "slice step cannot be zero", line: line) }
        func indices(count: Int) throws -> [Int] {
            func clamp(_ i: Int?, _ fallback: Int) -> Int {
                guard var i else { return fallback }
                if i < 0 { i += count }
                return stride > 0 ? min(max(i, 0), count) : min(max(i, -1), count - 1)
            }
            let from = clamp(try integer(start), stride > 0 ? 0 : count - 1)
            let to = clamp(try integer(stop), stride > 0 ? count : -1)
            return Array(Swift.stride(from: from, to: to, by: stride))
        }
        switch value {
        case let .array(items):
            return .array(try indices(count: items.count).map { items[$0] })
        case let .string(text):
            let scalars = Array(text.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try indices(count: scalars.count).map { scalars[$0] })))
        case let .undefined(why):
            throw TemplateError(.undefined, why, line: line)
        default:
            throw TemplateError(.type, "'\(value.typeName)' object is not subscriptable", line: line)
        }
    }
}
