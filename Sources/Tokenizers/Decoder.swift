import Foundation

/// Tokens back to text: tokenizer.json's "decoder". Each stage maps the token list to a new list;
/// the results are concatenated.
indirect enum TokenDecoder {
    case wordPiece(prefix: String, cleanup: Bool)
    case byteLevel
    case metaspace(replacement: String, prependFirst: Bool)
    case replace(Pattern, String)
    case byteFallback
    case fuse
    case strip(content: String, start: Int, stop: Int)
    case bpe(suffix: String)
    case sequence([TokenDecoder])

    init(_ json: JSONObject) throws {
        switch json.type {
        case "WordPiece": self = .wordPiece(prefix: json.optionalString("prefix") ?? "##", cleanup: json.bool("cleanup", default: true))
        case "ByteLevel": self = .byteLevel
        case "Metaspace":
            let scheme = json.optionalString("prepend_scheme") ?? (json.bool("add_prefix_space", default: true) ? "always" : "never")
            self = .metaspace(replacement: json.optionalString("replacement") ?? "▁", prependFirst: scheme != "never")
        case "Replace": self = .replace(try Pattern(json.values["pattern"], json: json), try json.string("content"))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            self = .strip(
                content: json.optionalString("content") ?? " ", start: json.int("start", default: 0),
                stop: json.int("stop", default: 0))
        case "BPEDecoder": self = .bpe(suffix: json.optionalString("suffix") ?? "</w>")
        case "Sequence":
            let parts = json.array("decoders") ?? []
            self = .sequence(try parts.enumerated().map { try TokenDecoder(JSONObject($1, file: json.file, context: "decoder \($0)")) })
        default:
            throw json.fail("decoder type \(json.type ?? "") is not supported")
        }
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { index, token in
                var text = token
                if index != 0 {
                    text = token.hasPrefix(prefix) ? String(token.dropFirst(prefix.count)) : " " + token
                }
                return cleanup ? Self.cleanup(text) : text
            }
        case .byteLevel:
            return [ByteLevelAlphabet.decode(tokens.joined())]
        case let .metaspace(replacement, prependFirst):
            return tokens.enumerated().map { index, token in
                var text = token.replacingOccurrences(of: replacement, with: " ")
                if index == 0, prependFirst, text.hasPrefix(" ") { text.removeFirst() }
                return text
            }
        case let .replace(pattern, content):
            return tokens.map { pattern.replaceAll(in: $0, with: content) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    out.append(text)
                } else {
                    out += [String](repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for token in tokens {
                if token.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">"),
                    let byte = UInt8(token.dropFirst(3).dropLast(), radix: 16)
                {
                    pending.append(byte)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                var scalars = Array(token.unicodeScalars)
                let c = content.unicodeScalars.first
                var removed = 0
                while removed < start, let first = scalars.first, first == c {
                    scalars.removeFirst()
                    removed += 1
                }
                removed = 0
                while removed < stop, let last = scalars.last, last == c {
                    scalars.removeLast()
                    removed += 1
                }
                return String(String.UnicodeScalarView(scalars))
            }
        case .bpe(let suffix):
            return tokens.enumerated().map { index, token in
                token.replacingOccurrences(of: suffix, with: index == tokens.count - 1 ? "" : " ")
            }
        case .sequence(let stages):
            return stages.reduce(tokens) { $1.decodeChain($0) }
        }
    }

    /// tokenizers' `cleanup` of WordPiece output (spaces before punctuation and contractions).
    static func cleanup(_ text: String) -> String {
        text.replacingOccurrences(of: " .", with: ".").replacingOccurrences(of: " ?", with: "?")
            .replacingOccurrences(of: " !", with: "!").replacingOccurrences(of: " ,", with: ",")
            .replacingOccurrences(of: " ' ", with: "'").replacingOccurrences(of: " n't", with: "n't")
            .replacingOccurrences(of: " 'm", with: "'m").replacingOccurrences(of: " do not", with: " don't")
            .replacingOccurrences(of: " 's", with: "'s").replacingOccurrences(of: " 've", with: "'ve")
            .replacingOccurrences(of: " 're", with: "'re")
    }
}
