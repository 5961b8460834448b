/// One token of a template: literal text between tags, the tag delimiters, and the pieces of the expressions
/// inside tags.
struct Token: Equatable {
    enum Kind: Equatable {
        case text(String)
        case blockStart, blockEnd, variableStart, variableEnd
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        case end
    }

    var kind: Kind
    var line: Int
}

/// Splits template source into tokens with the whitespace rules transformers renders with: `trim_blocks` (the
/// newline after a block or comment tag is dropped), `lstrip_blocks` (spaces and tabs from the start of a line up
/// to a block or comment tag are dropped), `-` and `+` on tag delimiters, and Jinja's defaults of normalising
/// newlines to "\n" and dropping one trailing newline.
struct Lexer {
    private let source: [Unicode.Scalar]
    private var position = 0
    private var line = 1
    private var tokens: [Token] = []
    /// Whether the last tag's delimiter ended a line (then lstrip_blocks applies to text without a newline).
    private var lineStarting = true
    let trimBlocks: Bool
    let lstripBlocks: Bool

    init(_ text: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        var iterator = text.unicodeScalars.makeIterator()
        var pending = iterator.next()
        while let scalar = pending {
            pending = iterator.next()
            if scalar == "\r" {
                scalars.append("\n")
                if pending == "\n" { pending = iterator.next() }
            } else {
                scalars.append(scalar)
            }
        }
        if scalars.last == "\n" { scalars.removeLast() }
        source = scalars
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var lexer = Lexer(text)
        try lexer.run()
        return lexer.tokens
    }

    private func fail(_ message: String) -> TemplateError { TemplateError(.syntax, message, line: line) }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < source.count ? source[position + offset] : nil
    }

    private func starts(with text: String, at index: Int) -> Bool {
        var i = index
        for scalar in text.unicodeScalars {
            guard i < source.count, source[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where position < source.count {
            if source[position] == "\n" { line += 1 }
            position += 1
        }
    }

    private mutating func run() throws {
        while position < source.count {
            guard let open = nextTagStart() else {
                emitText(String(String.UnicodeScalarView(source[position...])), line: line)
                advance(source.count - position)
                break
            }
            let textLine = line
            var text = Array(source[position..<open])
            advance(open - position)
            let kind = source[open + 1]
            let modifier = peek(2)
            if modifier == "-" {
                while let last = text.last, PythonText.isSpace(last) { text.removeLast() }
            } else if kind != "{" && modifier != "+" && lstripBlocks {
                stripLineStart(&text)
            }
            emitText(String(String.UnicodeScalarView(text)), line: textLine)
            advance(modifier == "-" || modifier == "+" ? 3 : 2)
            switch kind {
            case "#": try skipComment()
            case "%":
                tokens.append(Token(kind: .blockStart, line: line))
                try lexInside(closer: "%}")
                try lexRawBodyIfRaw()
            default:
                tokens.append(Token(kind: .variableStart, line: line))
                try lexInside(closer: "}}")
            }
        }
        tokens.append(Token(kind: .end, line: line))
    }

    private mutating func emitText(_ text: String, line: Int) {
        if !text.isEmpty { tokens.append(Token(kind: .text(text), line: line)) }
    }

    private func nextTagStart() -> Int? {
        var i = position
        while i + 1 < source.count {
            if source[i] == "{", ["{", "%", "#"].contains(source[i + 1]) { return i }
            i += 1
        }
        return nil
    }

    /// lstrip_blocks: drop spaces and tabs between the last newline (or a line-starting tag) and the tag.
    private func stripLineStart(_ text: inout [Unicode.Scalar]) {
        let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
        guard lineStart > 0 || lineStarting else { return }
        if text[lineStart...].allSatisfy({ $0 == " " || $0 == "\t" }) { text.removeSubrange(lineStart...) }
    }

    /// After a closing delimiter: `-` strips all following whitespace, trim_blocks drops one newline.
    private mutating func afterClose(stripAll: Bool, trim: Bool) {
        lineStarting = false
        if stripAll {
            while let next = peek(), PythonText.isSpace(next) {
                lineStarting = next == "\n"
                advance()
            }
        } else if trim, peek() == "\n" {
            advance()
            lineStarting = true
        }
    }

    private mutating func skipComment() throws {
        while position + 1 < source.count {
            if source[position] == "#" && source[position + 1] == "}" {
                let dash = position > 0 && source[position - 1] == "-"
                let plus = position > 0 && source[position - 1] == "+"
                advance(2)
                afterClose(stripAll: dash, trim: trimBlocks && !plus)
                return
            }
            advance()
        }
        throw fail("missing end of comment tag")
    }

    /// `{% raw %}…{% endraw %}`: the body is text, tags and all.
    private mutating func lexRawBodyIfRaw() throws {
        let count = tokens.count
        guard count >= 3, tokens[count - 3].kind == .blockStart, tokens[count - 2].kind == .name("raw"),
            tokens[count - 1].kind == .blockEnd
        else { return }
        tokens.removeLast(3)
        let textLine = line
        var body: [Unicode.Scalar] = []
        while position < source.count {
            if source[position] == "{", peek(1) == "%", let end = endRawTag(at: position) {
                if source[position + 2] == "-" {
                    while let last = body.last, PythonText.isSpace(last) { body.removeLast() }
                }
                emitText(String(String.UnicodeScalarView(body)), line: textLine)
                let dash = source[end - 3] == "-"
                let plus = source[end - 3] == "+"
                advance(end - position)
                afterClose(stripAll: dash, trim: trimBlocks && !plus)
                return
            }
            body.append(source[position])
            advance()
        }
        throw fail("missing endraw tag for raw block")
    }

    /// The index just past `{% endraw %}` (with optional `-`/`+` and spaces) when one starts at `index`.
    private func endRawTag(at index: Int) -> Int? {
        var i = index + 2
        if i < source.count, source[i] == "-" || source[i] == "+" { i += 1 }
        while i < source.count, PythonText.isSpace(source[i]) { i += 1 }
        guard starts(with: "endraw", at: i) else { return nil }
        i += 6
        while i < source.count, PythonText.isSpace(source[i]) { i += 1 }
        if i < source.count, source[i] == "-" || source[i] == "+" { i += 1 }
        return starts(with: "%}", at: i) ? i + 2 : nil
    }

    /// The expression tokens of one tag, up to its closing delimiter.
    private mutating func lexInside(closer: String) throws {
        var depth = 0
        while true {
            while let next = peek(), PythonText.isSpace(next) { advance() }
            guard let c = peek() else { throw fail("unexpected end of template, expected '\(closer)'") }
            if depth == 0 {
                var length = 0
                var stripAll = false
                var plus = false
                if starts(with: closer, at: position) {
                    length = 2
                } else if c == "-" || c == "+", starts(with: closer, at: position + 1) {
                    length = 3
                    stripAll = c == "-"
                    plus = c == "+"
                }
                if length > 0 {
                    tokens.append(Token(kind: closer == "%}" ? .blockEnd : .variableEnd, line: line))
                    advance(length)
                    afterClose(stripAll: stripAll, trim: closer == "%}" && trimBlocks && !plus)
                    return
                }
            }
            if c == "'" || c == "\"" {
                tokens.append(Token(kind: .string(try lexString(quote: c)), line: line))
            } else if c.properties.isXIDStart || c == "_" {
                var name = String.UnicodeScalarView()
                while let next = peek(), next.properties.isXIDContinue || next == "_" {
                    name.append(next)
                    advance()
                }
                tokens.append(Token(kind: .name(String(name)), line: line))
            } else if ("0"..."9").contains(c) {
                tokens.append(Token(kind: try lexNumber(), line: line))
            } else {
                let op = lexOperator()
                guard !op.isEmpty else { throw fail("unexpected character '\(c)'") }
                if ["(", "[", "{"].contains(op) { depth += 1 }
                if [")", "]", "}"].contains(op) {
                    guard depth > 0 else { throw fail("unexpected '\(op)'") }
                    depth -= 1
                }
                tokens.append(Token(kind: .op(op), line: line))
            }
        }
    }

    private mutating func lexOperator() -> String {
        for op in ["//", "**", "==", "!=", ">=", "<="] where starts(with: op, at: position) {
            advance(2)
            return op
        }
        guard let c = peek(), "+-/*%~[](){}<>=.:|,;".unicodeScalars.contains(c) else { return "" }
        advance()
        return String(c)
    }

    private mutating func lexNumber() throws -> Token.Kind {
        var text = ""
        func digits(_ lexer: inout Lexer) {
            while let next = lexer.peek(), ("0"..."9").contains(next) || next == "_" {
                if next != "_" { text.unicodeScalars.append(next) }
                lexer.advance()
            }
        }
        digits(&self)
        // After a '.', `x.0.1` is two integer attribute lookups, not a float.
        let afterDot = tokens.last?.kind == .op(".")
        var isFloat = false
        if !afterDot, peek() == ".", let next = peek(1), ("0"..."9").contains(next) {
            isFloat = true
            text += "."
            advance()
            digits(&self)
        }
        if !afterDot, peek() == "e" || peek() == "E" {
            let sign = peek(1) == "+" || peek(1) == "-"
            if let next = peek(sign ? 2 : 1), ("0"..."9").contains(next) {
                isFloat = true
                text += "e"
                advance()
                if sign {
                    text.unicodeScalars.append(peek()!)
                    advance()
                }
                digits(&self)
            }
        }
        if isFloat {
            guard let value = Double(text) else { throw fail("bad number \(text)") }
            return .float(value)
        }
        guard let value = Int(text) else { throw fail("integer \(text) is too large") }
        return .int(value)
    }

    /// A quoted string with Python's escapes (\n, \t, \\, \', \", \xhh, \uXXXX, \UXXXXXXXX, octal); an unknown
    /// escape keeps its backslash, as Python does.
    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let startLine = line
        advance()
        var out = String.UnicodeScalarView()
        while let c = peek() {
            advance()
            if c == quote { return String(out) }
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let e = peek() else { break }
            advance()
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\", "'", "\"": out.append(e)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                var code: UInt32 = 0
                for _ in 0..<width {
                    guard let h = peek(), let digit = Int(String(h), radix: 16) else { throw fail("truncated \\\(e) escape") }
                    code = code &* 16 &+ UInt32(digit)
                    advance()
                }
                out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            case "0"..."7":
                var code = e.value - 0x30
                for _ in 0..<2 {
                    guard let o = peek(), ("0"..."7").contains(o) else { break }
                    code = code * 8 + o.value - 0x30
                    advance()
                }
                out.append(Unicode.Scalar(code)!)
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw TemplateError(.syntax, "unterminated string", line: startLine)
    }
}
