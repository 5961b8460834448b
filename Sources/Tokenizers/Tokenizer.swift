import Diagnostics
import Foundation

/// A Hugging Face `tokenizer.json` pipeline: added tokens, normalizer, pre-tokenizer, model
/// (WordPiece or BPE), post-processor and decoder — giving the ids HF `tokenizers` gives.
public final class Tokenizer: @unchecked Sendable {
    /// One encoded input.
    public struct Encoding: Sendable, Equatable {
        public var ids: [Int]
        public var tokens: [String]
        public var typeIds: [Int]
        public var attentionMask: [Int]
    }

    /// How a batch is padded.
    public enum Padding: Sendable, Equatable {
        case none
        /// To the longest encoding of the batch.
        case longest
        /// To exactly this length.
        case fixed(Int)
    }

    /// Which end of a row padding goes to (a model family's choice: transformers' `padding_side`).
    public enum PaddingSide: String, Sendable { case left, right }

    struct AddedToken {
        var content: String
        var id: Int
        var special: Bool
        var lstrip: Bool
        var rstrip: Bool
        /// Matched in the normalized text (true by default for non-special tokens) rather than
        /// in the raw input.
        var normalized: Bool
        /// What is searched for: the content, normalized too when `normalized` (tokenizers
        /// normalizes an added token's content the way it normalizes text).
        var pattern: String
    }

    public let path: String
    let model: TokenizerModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    let addedTokens: [AddedToken]
    let rawAddedTokens: [AddedToken]
    let normalizedAddedTokens: [AddedToken]
    private let idToToken: [Int: String]
    private let specialIds: Set<Int>
    /// Padding id and the length limit the file configures (nil when it does not).
    public let configuredPadId: Int?
    public let configuredMaxLength: Int?

    /// Loads `tokenizer.json` (or the one inside a model folder).
    public convenience init(path: String) throws {
        var isFolder: ObjCBool = false
        let file =
            FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            ? path + "/tokenizer.json" : path
        let data = Data(try TextFile.bytes(file, for: TokenizersModule.self))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError(file: file, "not a JSON object")
        }
        try self.init(json: object, file: file)
    }

    init(json root: [String: Any], file: String) throws {
        path = file
        let json = try JSONObject(root, file: file, context: "tokenizer")
        model = try TokenizerModel(json.object("model", context: "model"))
        normalizer = json.isNull("normalizer") ? nil : try Normalizer(json.object("normalizer", context: "normalizer"))
        preTokenizer = json.isNull("pre_tokenizer") ? nil : try PreTokenizer(json.object("pre_tokenizer", context: "pre_tokenizer"))
        postProcessor = json.isNull("post_processor") ? nil : try PostProcessor(json.object("post_processor", context: "post_processor"))
        decoder = json.isNull("decoder") ? nil : try TokenDecoder(json.object("decoder", context: "decoder"))
        var added: [AddedToken] = []
        for (index, entry) in (json.array("added_tokens") ?? []).enumerated() {
            let token = try JSONObject(entry, file: file, context: "added_tokens[\(index)]")
            let id = try token.tokenId(token.values["id"], "id")
            let special = token.bool("special", default: false)
            added.append(
                AddedToken(
                    content: try token.string("content"), id: id, special: special,
                    lstrip: token.bool("lstrip", default: false), rstrip: token.bool("rstrip", default: false),
                    normalized: token.bool("normalized", default: !special), pattern: ""))
        }
        // Longest first, so matching at a position prefers the longest added token.
        for i in added.indices {
            added[i].pattern = added[i].normalized ? (normalizer?.apply(added[i].content) ?? added[i].content) : added[i].content
        }
        let longestFirst = added.sorted { $0.pattern.unicodeScalars.count > $1.pattern.unicodeScalars.count }
        rawAddedTokens = longestFirst.filter { !$0.normalized }
        normalizedAddedTokens = longestFirst.filter(\.normalized)
        addedTokens = longestFirst
        var reverse: [Int: String] = [:]
        for (token, id) in model.vocab { reverse[id] = token }
        // A normalized added token reads back as its normalized form, as in tokenizers.
        for token in added { reverse[token.id] = token.pattern }
        idToToken = reverse
        specialIds = Set(added.filter(\.special).map(\.id))
        let padding = root["padding"] as? [String: Any]
        configuredPadId = try padding?["pad_id"].map { try json.tokenId($0, "padding.pad_id") }
        configuredMaxLength = (root["truncation"] as? [String: Any])?["max_length"] as? Int
    }

    /// Vocabulary size including added tokens (the largest id + 1).
    public var vocabularySize: Int { (idToToken.keys.max() ?? -1) + 1 }

    public func id(of token: String) -> Int? { model.vocab[token] ?? addedTokens.first { $0.content == token }?.id }
    public func token(of id: Int) -> String? { idToToken[id] }

    /// Encodes `text` (and `pair`), adding the special tokens of the post-processor.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        var a = tokenize(text)
        var b = pair.map(tokenize)
        if let maxLength {
            let room = max(0, maxLength - (addSpecialTokens ? (postProcessor?.addedCount(pair: b != nil) ?? 0) : 0))
            Self.truncateLongestFirst(&a, &b, to: room)
        }
        let ids: [Int], types: [Int]
        if addSpecialTokens, let postProcessor {
            (ids, types) = postProcessor.process(a, b)
        } else {
            ids = a + (b ?? [])
            types = [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b?.count ?? 0)
        }
        return Encoding(
            ids: ids, tokens: ids.map { idToToken[$0] ?? "" }, typeIds: types,
            attentionMask: [Int](repeating: 1, count: ids.count))
    }

    /// Encodes several inputs, truncated to `maxLength` and padded (right) with `padId`.
    public func encodeBatch(
        _ texts: [String], pairs: [String]? = nil, maxLength: Int? = nil, padding: Padding = .longest,
        padId: Int? = nil, side: PaddingSide = .right
    ) -> [Encoding] {
        var encodings = texts.enumerated().map { index, text in encode(text, pair: pairs?[index], maxLength: maxLength) }
        let target: Int
        switch padding {
        case .none: return encodings
        case .longest: target = encodings.map(\.ids.count).max() ?? 0
        case .fixed(let length): target = length
        }
        let pad = padId ?? configuredPadId ?? 0
        func padded<T>(_ row: [T], _ filler: T, _ missing: Int) -> [T] {
            let fill = [T](repeating: filler, count: missing)
            return side == .right ? row + fill : fill + row
        }
        for i in encodings.indices where encodings[i].ids.count < target {
            let missing = target - encodings[i].ids.count
            encodings[i].ids = padded(encodings[i].ids, pad, missing)
            encodings[i].tokens = padded(encodings[i].tokens, idToToken[pad] ?? "", missing)
            encodings[i].typeIds = padded(encodings[i].typeIds, 0, missing)
            encodings[i].attentionMask = padded(encodings[i].attentionMask, 0, missing)
        }
        return encodings
    }

    /// Text of `ids`, through the decoder; special added tokens are left out unless asked.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens && specialIds.contains(id) { return nil }
            return idToToken[id]
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// Model ids of one text, without special tokens from the post-processor. As tokenizers does:
    /// raw added tokens split the input, each piece is normalized, normalized added tokens split
    /// it again, and the rest goes through the pre-tokenizer and the model.
    func tokenize(_ text: String) -> [Int] {
        var ids: [Int] = []
        for (segment, addedId, isFirst) in split(text, on: rawAddedTokens) {
            if let addedId {
                ids.append(addedId)
                continue
            }
            let normalized = normalizer?.apply(segment) ?? segment
            for (piece, innerId, innerFirst) in split(normalized, on: normalizedAddedTokens) {
                if let innerId {
                    ids.append(innerId)
                    continue
                }
                let first = isFirst && innerFirst
                let words = preTokenizer?.apply([.init(text: piece, isFirst: first)]) ?? [.init(text: piece, isFirst: first)]
                for word in words where !word.text.isEmpty { ids += model.tokenize(word.text) }
            }
        }
        return ids
    }

    /// Cuts `text` around `tokens` (leftmost, longest), honouring their lstrip/rstrip. Returns
    /// (text, added id or nil, whether the piece starts the text).
    func split(_ text: String, on addedTokens: [AddedToken]) -> [(String, Int?, Bool)] {
        guard !addedTokens.isEmpty else { return text.isEmpty ? [] : [(text, nil, true)] }
        let scalars = Array(text.unicodeScalars)
        var segments: [(String, Int?, Bool)] = []
        var segmentStart = 0
        var i = 0
        func flush(_ end: Int) {
            if end > segmentStart {
                segments.append((String(String.UnicodeScalarView(scalars[segmentStart..<end])), nil, segmentStart == 0))
            }
        }
        while i < scalars.count {
            var matched: AddedToken?
            for token in addedTokens {
                let content = Array(token.pattern.unicodeScalars)
                if !content.isEmpty, i + content.count <= scalars.count, Array(scalars[i..<(i + content.count)]) == content {
                    matched = token
                    break
                }
            }
            guard let token = matched else {
                i += 1
                continue
            }
            var start = i
            if token.lstrip { while start > segmentStart, scalars[start - 1].properties.isWhitespace { start -= 1 } }
            flush(start)
            segments.append((token.content, token.id, false))
            i += token.pattern.unicodeScalars.count
            if token.rstrip { while i < scalars.count, scalars[i].properties.isWhitespace { i += 1 } }
            segmentStart = i
        }
        flush(scalars.count)
        return segments
    }

    /// tokenizers' LongestFirst: remove one id at a time from the longer sequence.
    static func truncateLongestFirst(_ a: inout [Int], _ b: inout [Int]?, to room: Int) {
        while a.count + (b?.count ?? 0) > room {
            if let bCount = b?.count, bCount > a.count { b!.removeLast() } else if !a.isEmpty { a.removeLast() } else { b?.removeLast() }
        }
    }
}
