/// A JSON value as the header parser sees it: objects keep their keys in file order and keep
/// duplicates, because the format's rules depend on both (a duplicate `__metadata__` is an error,
/// a duplicate tensor name keeps the last entry).
///
/// Numbers keep only what the format needs: an unsigned 64-bit integer, or "some other number"
/// (negative, fractional, exponent, or too large), which is never valid where a header needs one.
indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case string(String)
    case unsignedInteger(UInt64)
    case otherNumber(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.unsignedInteger(a), .unsignedInteger(b)): return a == b
        case let (.otherNumber(a), .otherNumber(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// A short name of the value's type for error messages ("a string", "an array", …).
    var typeDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .string: return "a string"
        case .unsignedInteger: return "an unsigned integer"
        case .otherNumber(let text): return "the number \(text)"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A strict RFC 8259 parser with the same acceptance rules as serde_json, which the official
/// crate uses: JSON whitespace only (space, tab, CR, LF), no trailing commas or comments, no
/// leading zeros, no lone surrogates, nothing after the value, nesting at most 128 deep.
struct StrictJSONParser {
    struct ParseError: Error {
        var message: String
        var offset: Int
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0
    private static let maximumDepth = 128

    /// Parses one complete JSON document from `bytes` (already known to be UTF-8).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> JSONValue {
        var parser = StrictJSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.position != bytes.count {
            throw ParseError(message: "trailing characters", offset: parser.position)
        }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ message: String) -> ParseError { ParseError(message: message, offset: position) }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            position += 1
        }
    }

    private mutating func expectLiteral(_ literal: StaticString, _ value: JSONValue) throws(ParseError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw fail("EOF while parsing a value") }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            position += i
            throw fail("expected ident")
        }
        position += count
        return value
    }

    private mutating func parseValue() throws(ParseError) -> JSONValue {
        guard let byte = current else { throw fail("EOF while parsing a value") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expectLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try expectLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try expectLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("expected value")
        }
    }

    private mutating func enterNesting() throws(ParseError) {
        depth += 1
        if depth > Self.maximumDepth { throw fail("recursion limit exceeded") }
    }

    private mutating func parseObject() throws(ParseError) -> JSONValue {
        try enterNesting()
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw fail(current == nil ? "EOF while parsing an object" : "key must be a string")
            }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                throw fail(current == nil ? "EOF while parsing an object" : "expected `:`")
            }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
                if current == UInt8(ascii: "}") { throw fail("trailing comma") }
            case UInt8(ascii: "}"):
                position += 1
                depth -= 1
                return .object(members)
            case nil: throw fail("EOF while parsing an object")
            default: throw fail("expected `,` or `}`")
            }
        }
    }

    private mutating func parseArray() throws(ParseError) -> JSONValue {
        try enterNesting()
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
                if current == UInt8(ascii: "]") { throw fail("trailing comma") }
            case UInt8(ascii: "]"):
                position += 1
                depth -= 1
                return .array(elements)
            case nil: throw fail("EOF while parsing a list")
            default: throw fail("expected `,` or `]`")
            }
        }
    }

    private mutating func parseNumber() throws(ParseError) -> JSONValue {
        let start = position
        var isUnsignedInteger = true
        if current == UInt8(ascii: "-") {
            isUnsignedInteger = false
            position += 1
        }
        guard let first = current, first >= 0x30, first <= 0x39 else { throw fail("invalid number") }
        position += 1
        if first == UInt8(ascii: "0") {
            if let next = current, next >= 0x30, next <= 0x39 { throw fail("invalid number") }
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            isUnsignedInteger = false
            position += 1
            guard skipDigits() > 0 else { throw fail("invalid number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isUnsignedInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() > 0 else { throw fail("invalid number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isUnsignedInteger, let value = UInt64(text) { return .unsignedInteger(value) }
        return .otherNumber(text)
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = position
        while let byte = current, byte >= 0x30, byte <= 0x39 { position += 1 }
        return position - start
    }

    private mutating func parseString() throws(ParseError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes, the bytes are the string.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            if byte < 0x20 { throw fail("control character while parsing a string") }
            position += 1
        }
        guard let stop = current else { throw fail("EOF while parsing a string") }
        if stop == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            position += 1
            return text
        }
        var scalars = Array(bytes[start..<position])
        while true {
            guard let byte = current else { throw fail("EOF while parsing a string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try appendEscape(to: &scalars)
            case 0..<0x20:
                position -= 1
                throw fail("control character while parsing a string")
            default:
                scalars.append(byte)
            }
        }
    }

    private mutating func appendEscape(to output: inout [UInt8]) throws(ParseError) {
        guard let byte = current else { throw fail("EOF while parsing a string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): output.append(0x22)
        case UInt8(ascii: "\\"): output.append(0x5C)
        case UInt8(ascii: "/"): output.append(0x2F)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xDC00...0xDFFF).contains(scalar) { throw fail("lone trailing surrogate in hex escape") }
            if (0xD800...0xDBFF).contains(scalar) {
                guard current == UInt8(ascii: "\\"), position + 1 < bytes.count,
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw fail("lone leading surrogate in hex escape") }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone leading surrogate in hex escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            output.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
        default:
            position -= 1
            throw fail("invalid escape")
        }
    }

    private mutating func parseHex4() throws(ParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw fail("EOF while parsing a string") }
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw fail("invalid escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}

/// Appends `text` as a JSON string literal the way serde_json writes one: `"` and `\` escaped,
/// control characters as `\b \t \n \f \r` or `\u00XX`, everything else (incl. non-ASCII) raw.
func appendJSONString(_ text: String, to output: inout [UInt8]) {
    output.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case 0x22: output.append(contentsOf: [0x5C, 0x22])
        case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
        case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
        case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
        case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            output.append(contentsOf: Array("\\u00".utf8))
            output.append(hex[Int(byte >> 4)])
            output.append(hex[Int(byte & 0xF)])
        default: output.append(byte)
        }
    }
    output.append(UInt8(ascii: "\""))
}
