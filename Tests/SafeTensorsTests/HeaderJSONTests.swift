import Testing

@testable import SafeTensors

@Suite struct HeaderJSONTests {
    static func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try StrictJSONParser.parse($0) }
    }

    @Test func acceptsWhatSerdeAccepts() throws {
        #expect(
            try Self.parse(" {\"a\" : [1, 18446744073709551615, -2, 0.5, true, null, \"\\u00e9\\ud83d\\ude00\\/\"]}\n")
                == .object([
                    (
                        "a",
                        .array([
                            .unsignedInteger(1), .unsignedInteger(.max), .otherNumber("-2"), .otherNumber("0.5"),
                            .bool(true), .null, .string("é😀/"),
                        ])
                    )
                ]))
        #expect(try Self.parse("{\"k\":1,\"k\":2}") == .object([("k", .unsignedInteger(1)), ("k", .unsignedInteger(2))]))
        #expect(try Self.parse("18446744073709551616") == .otherNumber("18446744073709551616"))
    }

    @Test(arguments: [
        "", "{", "{}x", "{,}", "[1,]", "01", "1.", "1e", "-", "\"\\x\"", "\"\u{01}\"", "tru", "{\"a\"1}",
        "\"\\ud800\"", "\"\\udc00\"", "{\"a\":1 \"b\":2}", "\u{0C}{}",
        String(repeating: "[", count: 129) + String(repeating: "]", count: 129),
    ])
    func rejects(_ text: String) {
        #expect(throws: StrictJSONParser.ParseError.self) { try Self.parse(text) }
    }

    @Test func depthLimitIsInclusiveAt128() throws {
        _ = try Self.parse(String(repeating: "[", count: 128) + String(repeating: "]", count: 128))
    }

    @Test func writerEscapesLikeSerde() {
        var out: [UInt8] = []
        appendJSONString("a\"\\\n\t\u{01}\u{7F}é/", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"a\\\"\\\\\\n\\t\\u0001\u{7F}é/\"")
    }

    @Test func pythonJSONTextMatchesPython() {
        #expect(PythonJSONText.pythonRepr(1e-12) == "1e-12")
        #expect(PythonJSONText.pythonRepr(0.02) == "0.02")
        #expect(PythonJSONText.pythonRepr(1e16) == "1e+16")
        #expect(PythonJSONText.pythonRepr(100000.0) == "100000.0")
        #expect(PythonJSONText.quoted("é😀\u{7F}\u{01}") == "\"\\u00e9\\ud83d\\ude00\u{7F}\\u0001\"")
        #expect(PythonJSONText.render(.object(["b": .array([]), "a": .object([:])])) == "{\n  \"a\": {},\n  \"b\": []\n}\n")
    }

    @Test func f64ConvertsThroughF32AsTorchDoes() throws {
        // 1 + 2^-11 + 2^-40 rounds to 1 + 2^-11 in f32, then ties to even (1.0) in f16 and bf16.
        let value = 1 + 0x1p-11 + 0x1p-40
        let source = withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        var out = [UInt8](repeating: 0, count: 2)
        try source.withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { try DTypeConversion.convert(src, from: .f64, into: $0, as: .f16, file: "t") }
        }
        #expect(out == [0x00, 0x3C])
    }
}
