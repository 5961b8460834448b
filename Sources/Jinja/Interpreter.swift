import Foundation

/// Variables visible at one point of a render. A for-loop iteration and a macro call get a child scope, so
/// `set` inside them does not leak out (Jinja's rule); `if` blocks share their parent's.
final class Scope {
    private var variables: [String: Value] = [:]
    let parent: Scope?

    init(parent: Scope?, _ variables: [String: Value] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }

    func set(_ name: String, _ value: Value) { variables[name] = value }
}

/// Runs a syntax tree: statements write to the innermost output buffer, expressions evaluate with Python's
/// semantics. Counts steps and output bytes against ``RenderLimits``.
final class Interpreter {
    enum Flow { case normal, breakLoop, continueLoop }

    let options: RenderOptions
    private var buffers: [String] = [""]
    private var steps = 0
    private var callDepth = 0
    let globals: Scope

    init(options: RenderOptions) {
        self.options = options
        globals = Scope(parent: nil, Globals.make(options: options))
    }

    func render(_ body: [Statement], context: [String: Value]) throws -> String {
        let scope = Scope(parent: globals, context)
        _ = try execute(body, in: scope)
        return buffers[0]
    }

    // MARK: Budget

    func step(line: Int? = nil) throws {
        steps += 1
        if steps > options.limits.maxSteps {
            throw TemplateError(.budget, "render exceeded \(options.limits.maxSteps) steps", line: line)
        }
    }

    /// Refuses strings (and lists, by item count) larger than the output budget before they are kept.
    func checkSize(_ count: Int, line: Int? = nil) throws {
        if count > options.limits.maxOutputBytes {
            throw TemplateError(.budget, "template built a value over \(options.limits.maxOutputBytes) bytes", line: line)
        }
    }

    private func write(_ text: String) throws {
        buffers[buffers.count - 1] += text
        try checkSize(buffers[buffers.count - 1].utf8.count)
    }

    /// Runs `body` into a fresh buffer and returns what it wrote.
    func capture(_ body: () throws -> Void) throws -> String {
        buffers.append("")
        defer { buffers.removeLast() }
        try body()
        return buffers[buffers.count - 1]
    }

    // MARK: Statements

    func execute(_ body: [Statement], in scope: Scope) throws -> Flow {
        for statement in body {
            try step()
            let flow = try execute(statement, in: scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ statement: Statement, in scope: Scope) throws -> Flow {
        switch statement {
        case let .text(text):
            try write(text)
        case let .output(expression, _):
            try write(PythonText.str(try evaluate(expression, in: scope)))
        case let .ifBlock(branches, otherwise):
            for (condition, body) in branches where try evaluate(condition, in: scope).isTruthy {
                return try execute(body, in: scope)
            }
            return try execute(otherwise, in: scope)
        case let .forLoop(loop):
            return try runLoop(loop, in: scope)
        case let .set(target, expression, line):
            try assign(target, try evaluate(expression, in: scope), in: scope, line: line)
        case let .setBlock(target, body, filters, line):
            var value = Value.string(try capture { _ = try execute(body, in: scope) })
            for (name, arguments) in filters {
                value = try applyFilter(name, to: value, arguments, in: scope, line: line)
            }
            try assign(target, value, in: scope, line: line)
        case let .macro(macro):
            scope.set(macro.name, makeMacro(macro, definedIn: scope))
        case let .filterBlock(filters, body, line):
            var value = Value.string(try capture { _ = try execute(body, in: scope) })
            for (name, arguments) in filters {
                value = try applyFilter(name, to: value, arguments, in: scope, line: line)
            }
            try write(PythonText.str(value))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case let .generation(body):
            return try execute(body, in: scope)
        case let .callBlock(call, body, line):
            guard case let .call(callee, arguments, _) = call else { return .normal }
            let caller = Value.Callable(name: "caller", display: "<Macro 'caller'>") { [unowned self] _, _ in
                .string(try self.capture { _ = try self.execute(body, in: Scope(parent: scope)) })
            }
            var evaluated = try evaluateArguments(arguments, in: scope)
            evaluated.keywords.append(("caller", .callable(caller)))
            try write(PythonText.str(try callValue(try evaluate(callee, in: scope), evaluated, line: line)))
        }
        return .normal
    }

    private func runLoop(_ loop: ForLoop, in scope: Scope) throws -> Flow {
        let iterable = try evaluate(loop.iterable, in: scope)
        var items = try iterate(iterable, line: loop.line)
        if let condition = loop.condition {
            // Jinja filters before looping, so `loop.index` and `loop.length` count only the kept items.
            items = try items.filter { item in
                try step(line: loop.line)
                let itemScope = Scope(parent: scope)
                try assign(loop.target, item, in: itemScope, line: loop.line)
                return try evaluate(condition, in: itemScope).isTruthy
            }
        }
        if items.isEmpty { return try execute(loop.otherwise, in: scope) }
        let length = items.count
        for (index, item) in items.enumerated() {
            try step(line: loop.line)
            let itemScope = Scope(parent: scope)
            try assign(loop.target, item, in: itemScope, line: loop.line)
            let cycler = Value.Callable(name: "cycle") { arguments, _ in
                guard !arguments.positional.isEmpty else { throw TemplateError(.type, "no items for cycling given", line: loop.line) }
                return arguments.positional[index % arguments.positional.count]
            }
            let info: Value.Object = Value.Object([
                ("index", .int(index + 1)), ("index0", .int(index)),
                ("revindex", .int(length - index)), ("revindex0", .int(length - index - 1)),
                ("first", .bool(index == 0)), ("last", .bool(index == length - 1)), ("length", .int(length)),
                ("previtem", index > 0 ? items[index - 1] : .undefined("'loop' has no attribute 'previtem'")),
                ("nextitem", index + 1 < length ? items[index + 1] : .undefined("'loop' has no attribute 'nextitem'")),
                ("depth", .int(1)), ("depth0", .int(0)), ("cycle", .callable(cycler)),
            ])
            itemScope.set("loop", .object(info))
            if try execute(loop.body, in: itemScope) == .breakLoop { break }
        }
        return .normal
    }

    /// The items a `for` loop or a filter walks: list items, dict keys, string characters; undefined is empty.
    func iterate(_ value: Value, line: Int?) throws -> [Value] {
        switch value {
        case let .array(items): return items
        case let .object(object): return object.keys.map { .string($0) }
        case let .string(text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError(.type, "'\(value.typeName)' object is not iterable", line: line)
        }
    }

    private func assign(_ target: AssignTarget, _ value: Value, in scope: Scope, line: Int) throws {
        switch target {
        case let .name(name):
            scope.set(name, value)
        case let .attribute(name, attribute):
            guard case let .namespace(namespace)? = scope.lookup(name) else {
                throw TemplateError(.type, "cannot assign attribute on non-namespace object", line: line)
            }
            if attribute.hasPrefix("_") {
                throw TemplateError(.security, "Chat templates cannot store underscore-prefixed attributes on a namespace", line: line)
            }
            namespace.attributes[attribute] = value
        case let .tuple(targets):
            let items = try iterate(value, line: line)
            guard items.count == targets.count else {
                let problem = items.count > targets.count ? "too many values to unpack" : "not enough values to unpack"
                throw TemplateError(.type, "\(problem) (expected \(targets.count), got \(items.count))", line: line)
            }
            for (target, item) in zip(targets, items) { try assign(target, item, in: scope, line: line) }
        }
    }

    private func makeMacro(_ macro: Macro, definedIn scope: Scope) -> Value {
        .callable(
            Value.Callable(name: macro.name, display: "<Macro '\(macro.name)'>") { [unowned self] arguments, _ in
                guard arguments.positional.count <= macro.parameters.count else {
                    throw TemplateError(.type, "macro '\(macro.name)' takes not more than \(macro.parameters.count) argument(s)")
                }
                self.callDepth += 1
                defer { self.callDepth -= 1 }
                guard self.callDepth <= self.options.limits.maxCallDepth else {
                    throw TemplateError(.budget, "macro calls nested deeper than \(self.options.limits.maxCallDepth)")
                }
                let local = Scope(parent: scope)
                var keywords = arguments.keywords
                for (index, (name, fallback)) in macro.parameters.enumerated() {
                    if index < arguments.positional.count {
                        local.set(name, arguments.positional[index])
                    } else if let found = keywords.firstIndex(where: { $0.0 == name }) {
                        local.set(name, keywords.remove(at: found).1)
                    } else if let fallback {
                        local.set(name, try self.evaluate(fallback, in: local))
                    } else {
                        local.set(name, .undefined("'\(name)' is undefined"))
                    }
                }
                if let found = keywords.firstIndex(where: { $0.0 == "caller" }) {
                    local.set("caller", keywords.remove(at: found).1)
                }
                if let extra = keywords.first {
                    throw TemplateError(.type, "macro '\(macro.name)' takes no keyword argument '\(extra.0)'")
                }
                return .string(try self.capture { _ = try self.execute(macro.body, in: local) })
            })
    }
}
