/// Builds the syntax tree from tokens by recursive descent, with Jinja's operator precedence (lowest first):
/// `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`, unary `- +`, then
/// primaries with their postfix lookups, calls, filters and `is` tests.
struct Parser {
    private var tokens: [Token]
    private var index = 0
    private var depth = 0
    /// Nesting deeper than this is refused rather than risking the stack on hostile input.
    static let maxDepth = 64

    init(tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [Statement] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (body, end) = try parser.parseStatements(until: [])
        if let end { throw TemplateError(.syntax, "unexpected '\(end)'", line: parser.current.line) }
        return body
    }

    // MARK: Token helpers

    private var current: Token { tokens[index] }

    private mutating func next() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func fail(_ message: String, line: Int? = nil) -> TemplateError {
        TemplateError(.syntax, message, line: line ?? current.line)
    }

    private func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case let .text(text): return "text \(PythonText.quoted(String(text.prefix(20))))"
        case .blockStart: return "'{%'"
        case .blockEnd: return "end of statement block"
        case .variableStart: return "'{{'"
        case .variableEnd: return "end of print statement"
        case let .name(name): return "'\(name)'"
        case let .string(text): return "string \(PythonText.quoted(text))"
        case let .int(i): return "integer \(i)"
        case let .float(d): return "float \(d)"
        case let .op(op): return "'\(op)'"
        case .end: return "end of template"
        }
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skip(op: String) -> Bool {
        guard isOp(op) else { return false }
        _ = next()
        return true
    }

    private mutating func skip(name: String) -> Bool {
        guard isName(name) else { return false }
        _ = next()
        return true
    }

    private mutating func expect(op: String) throws {
        guard skip(op: op) else { throw fail("expected '\(op)', got \(describe(current.kind))") }
    }

    private mutating func expectName() throws -> String {
        guard case let .name(name) = current.kind else { throw fail("expected a name, got \(describe(current.kind))") }
        _ = next()
        return name
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block, got \(describe(current.kind))") }
        _ = next()
    }

    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("template nested deeper than \(Self.maxDepth) levels") }
        return try body(&self)
    }

    // MARK: Statements

    /// Statements up to one of the `endTags` block tags (returned, with the tag consumed up to its name) or the
    /// end of the template (nil).
    private mutating func parseStatements(until endTags: Set<String>) throws -> ([Statement], String?) {
        var body: [Statement] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !endTags.isEmpty {
                    throw fail("unexpected end of template, expected \(endTags.sorted().map { "'\($0)'" }.joined(separator: " or "))")
                }
                return (body, nil)
            case let .text(text):
                _ = next()
                body.append(.text(text))
            case .variableStart:
                _ = next()
                let expression = try parseTupleExpression()
                guard current.kind == .variableEnd else { throw fail("expected end of print statement, got \(describe(current.kind))") }
                _ = next()
                body.append(.output(expression, line: token.line))
            case .blockStart:
                _ = next()
                guard case let .name(keyword) = current.kind else { throw fail("expected a statement name, got \(describe(current.kind))") }
                if endTags.contains(keyword) {
                    _ = next()
                    return (body, keyword)
                }
                body.append(try nested { try $0.parseStatement(keyword) })
            default:
                throw fail("unexpected \(describe(token.kind))")
            }
        }
    }

    private mutating func parseStatement(_ keyword: String) throws -> Statement {
        let line = current.line
        _ = next()
        switch keyword {
        case "if": return try parseIf()
        case "for": return try parseFor(line: line)
        case "set": return try parseSet(line: line)
        case "macro": return try parseMacro()
        case "filter":
            let filters = try parseFilterChain(first: true)
            try expectBlockEnd()
            let (body, _) = try parseStatements(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters: filters, body: body, line: line)
        case "break", "continue":
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop(line: line) : .continueLoop(line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseStatements(until: ["endgeneration"])
            try expectBlockEnd()
            return .generation(body)
        case "call":
            let call = try parseExpression()
            guard case .call = call else { throw fail("expected a macro call after 'call'") }
            try expectBlockEnd()
            let (body, _) = try parseStatements(until: ["endcall"])
            try expectBlockEnd()
            return .callBlock(call, body: body, line: line)
        default:
            throw fail("unknown or unsupported tag '\(keyword)'", line: line)
        }
    }

    private mutating func parseIf() throws -> Statement {
        var branches: [(Expression, [Statement])] = []
        var condition = try parseTupleExpression()
        while true {
            try expectBlockEnd()
            let (body, end) = try parseStatements(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try parseTupleExpression()
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try parseStatements(until: ["endif"])
                try expectBlockEnd()
                return .ifBlock(branches: branches, otherwise: otherwise)
            default:
                try expectBlockEnd()
                return .ifBlock(branches: branches, otherwise: [])
            }
        }
    }

    private mutating func parseFor(line: Int) throws -> Statement {
        let target = try parseAssignTarget(allowAttribute: false)
        guard skip(name: "in") else { throw fail("expected 'in', got \(describe(current.kind))") }
        let iterable = try parseTupleExpression(allowConditional: false)
        let condition = skip(name: "if") ? try parseExpression() : nil
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let (body, end) = try parseStatements(until: ["else", "endfor"])
        var otherwise: [Statement] = []
        if end == "else" {
            try expectBlockEnd()
            otherwise = try parseStatements(until: ["endfor"]).0
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line))
    }

    private mutating func parseSet(line: Int) throws -> Statement {
        let target = try parseAssignTarget(allowAttribute: true)
        if skip(op: "=") {
            let value = try parseTupleExpression()
            try expectBlockEnd()
            return .set(target, value, line: line)
        }
        let filters = isOp("|") ? try parseFilterChain(first: false) : []
        try expectBlockEnd()
        let (body, _) = try parseStatements(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, body: body, filters: filters, line: line)
    }

    private mutating func parseAssignTarget(allowAttribute: Bool) throws -> AssignTarget {
        var targets: [AssignTarget] = []
        repeat {
            let name = try expectName()
            if allowAttribute, skip(op: ".") {
                targets.append(.attribute(name, try expectName()))
            } else {
                targets.append(.name(name))
            }
        } while skip(op: ",") && current.kind != .blockEnd && !isName("in") && !isOp("=")
        return targets.count == 1 ? targets[0] : .tuple(targets)
    }

    private mutating func parseMacro() throws -> Statement {
        let name = try expectName()
        try expect(op: "(")
        var parameters: [(String, Expression?)] = []
        while !skip(op: ")") {
            if !parameters.isEmpty { try expect(op: ",") }
            if skip(op: ")") { break }
            let parameter = try expectName()
            parameters.append((parameter, skip(op: "=") ? try parseExpression() : nil))
        }
        try expectBlockEnd()
        let (body, _) = try parseStatements(until: ["endmacro"])
        if case .name = current.kind { _ = next() }
        try expectBlockEnd()
        return .macro(Macro(name: name, parameters: parameters, body: body))
    }

    /// `name(args) | name …` as in `{% filter %}` and `{% set x | … %}`.
    private mutating func parseFilterChain(first: Bool) throws -> [(String, CallArguments)] {
        var filters: [(String, CallArguments)] = []
        var expectPipe = !first
        while true {
            if expectPipe {
                guard skip(op: "|") else { break }
            }
            expectPipe = true
            let line = current.line
            let name = try parseDottedName()
            try checkFilter(name, line: line)
            filters.append((name, isOp("(") ? try parseCallArguments() : CallArguments()))
        }
        return filters
    }

    /// Jinja refuses an unknown filter when compiling, even in a branch that never runs.
    private func checkFilter(_ name: String, line: Int) throws {
        guard Interpreter.filterNames.contains(name) else { throw TemplateError(.unknownFilter, "No filter named '\(name)'.", line: line) }
    }

    private mutating func parseDottedName() throws -> String {
        var name = try expectName()
        while skip(op: ".") { name += "." + (try expectName()) }
        return name
    }

    // MARK: Expressions

    /// An expression, or a tuple when commas follow (`{{ a, b }}`, `for x in a, b`).
    private mutating func parseTupleExpression(allowConditional: Bool = true) throws -> Expression {
        var items: [Expression] = []
        var sawComma = false
        while true {
            items.append(allowConditional ? try parseExpression() : try parseOr())
            guard skip(op: ",") else { break }
            sawComma = true
            if [.blockEnd, .variableEnd].contains(current.kind) || isName("if") { break }
        }
        return sawComma ? .tuple(items) : items[0]
    }

    mutating func parseExpression() throws -> Expression {
        try nested { parser in
            let value = try parser.parseOr()
            guard parser.skip(name: "if") else { return value }
            let condition = try parser.parseOr()
            let otherwise = parser.skip(name: "else") ? try parser.parseExpression() : nil
            return .conditional(condition: condition, then: value, otherwise: otherwise)
        }
    }

    private mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        while skip(name: "or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        while skip(name: "and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expression {
        if skip(name: "not") { return .not(try nested { try $0.parseNot() }) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expression {
        let line = current.line
        let left = try parseMath1()
        var operations: [(String, Expression)] = []
        while true {
            if case let .op(op) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
                _ = next()
                operations.append((op, try parseMath1()))
            } else if skip(name: "in") {
                operations.append(("in", try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                _ = next()
                _ = next()
                operations.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations, line: line)
    }

    private mutating func parseBinary(_ ops: [String], _ operand: (inout Parser) throws -> Expression) throws -> Expression {
        var left = try operand(&self)
        while case let .op(op) = current.kind, ops.contains(op) {
            let line = current.line
            _ = next()
            left = .binary(op, left, try operand(&self), line: line)
        }
        return left
    }

    private mutating func parseMath1() throws -> Expression { try parseBinary(["+", "-"]) { try $0.parseConcat() } }
    private mutating func parseConcat() throws -> Expression { try parseBinary(["~"]) { try $0.parseMath2() } }
    private mutating func parseMath2() throws -> Expression { try parseBinary(["*", "/", "//", "%"]) { try $0.parsePow() } }
    private mutating func parsePow() throws -> Expression { try parseBinary(["**"]) { try $0.parseUnary(withFilters: true) } }

    private mutating func parseUnary(withFilters: Bool) throws -> Expression {
        try nested { parser in
            let line = parser.current.line
            var node: Expression
            if parser.skip(op: "-") {
                node = .unary("-", try parser.parseUnary(withFilters: false), line: line)
            } else if parser.skip(op: "+") {
                node = .unary("+", try parser.parseUnary(withFilters: false), line: line)
            } else {
                node = try parser.parsePrimary()
            }
            node = try parser.parsePostfix(node)
            return withFilters ? try parser.parseFiltersAndTests(node) : node
        }
    }

    private mutating func parsePrimary() throws -> Expression {
        let token = next()
        switch token.kind {
        case let .name(name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name, line: token.line)
            }
        case var .string(text):
            // Adjacent string literals join, as in Python.
            while case let .string(more) = current.kind {
                text += more
                _ = next()
            }
            return .literal(.string(text))
        case let .int(i): return .literal(.int(i))
        case let .float(d): return .literal(.double(d))
        case .op("("):
            if skip(op: ")") { return .tuple([]) }
            let inner = try parseTupleExpression()
            try expect(op: ")")
            return inner
        case .op("["):
            var items: [Expression] = []
            while !skip(op: "]") {
                if !items.isEmpty { try expect(op: ",") }
                if skip(op: "]") { break }
                items.append(try parseExpression())
            }
            return .list(items)
        case .op("{"):
            var pairs: [(Expression, Expression)] = []
            while !skip(op: "}") {
                if !pairs.isEmpty { try expect(op: ",") }
                if skip(op: "}") { break }
                let key = try parseExpression()
                try expect(op: ":")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs)
        default:
            throw fail("expected an expression, got \(describe(token.kind))", line: token.line)
        }
    }

    private mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            let line = current.line
            if skip(op: ".") {
                switch next().kind {
                case let .name(name): node = .attribute(node, name, line: line)
                case let .int(i): node = .item(node, .literal(.int(i)), line: line)
                default: throw fail("expected an attribute name after '.'", line: line)
                }
            } else if skip(op: "[") {
                node = try parseSubscript(node, line: line)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments(), line: line)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression, line: Int) throws -> Expression {
        var parts: [Expression?] = [nil]
        var isSlice = false
        while !skip(op: "]") {
            if skip(op: ":") {
                isSlice = true
                parts.append(nil)
                guard parts.count <= 3 else { throw fail("too many ':' in a slice", line: line) }
            } else {
                guard parts[parts.count - 1] == nil else { throw fail("expected ']' or ':'", line: line) }
                parts[parts.count - 1] = try parseExpression()
            }
        }
        if !isSlice {
            guard let index = parts[0] else { throw fail("expected an index", line: line) }
            return .item(base, index, line: line)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, start: parts[0], stop: parts[1], step: parts[2], line: line)
    }

    private mutating func parseCallArguments() throws -> CallArguments {
        try expect(op: "(")
        var arguments = CallArguments()
        var first = true
        while !skip(op: ")") {
            if !first { try expect(op: ",") }
            first = false
            if skip(op: ")") { break }
            if case let .name(name) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                _ = next()
                _ = next()
                arguments.keywords.append((name, try parseExpression()))
            } else {
                guard arguments.keywords.isEmpty else { throw fail("positional argument after a keyword argument") }
                if isOp("*") || isOp("**") { throw fail("*args and **kwargs are not supported") }
                arguments.positional.append(try parseExpression())
            }
        }
        return arguments
    }

    private mutating func parseFiltersAndTests(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            let line = current.line
            if skip(op: "|") {
                let name = try parseDottedName()
                try checkFilter(name, line: line)
                let arguments = isOp("(") ? try parseCallArguments() : CallArguments()
                node = .filter(node, name: name, arguments, line: line)
            } else if skip(name: "is") {
                let negated = skip(name: "not")
                let name = try parseDottedName()
                guard Interpreter.testNames.contains(name) else {
                    throw TemplateError(.unknownFilter, "No test named '\(name)'.", line: line)
                }
                var arguments = CallArguments()
                if isOp("(") {
                    arguments = try parseCallArguments()
                } else if startsBareTestArgument {
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name: name, arguments, negated: negated, line: line)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments(), line: line)
            } else {
                return node
            }
        }
    }

    /// `x is divisibleby 3`: one argument without parentheses when a primary follows (but not `else/or/and`).
    private var startsBareTestArgument: Bool {
        switch current.kind {
        case .string, .int, .float: return true
        case .op("["), .op("{"): return true
        case let .name(name): return !["else", "or", "and", "is", "if", "in", "not"].contains(name)
        default: return false
        }
    }
}
