import Foundation

/// The vocabulary model of tokenizer.json: WordPiece (BERT), BPE (GPT-2, Llama) or Unigram (T5).
final class TokenizerModel: @unchecked Sendable {
    enum Kind {
        case wordPiece(prefix: String, maxChars: Int)
        case bpe(
            ranks: [String: Int], byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool,
            continuingPrefix: String?, endOfWordSuffix: String?)
        case unigram(UnigramModel)
    }

    let kind: Kind
    let vocab: [String: Int]
    let unknownToken: String?
    /// Words already split; locked so one tokenizer can encode on several threads (a server's
    /// request handlers).
    private var cache: [String: [Int]] = [:]
    private let cacheLock = NSLock()

    init(_ json: JSONObject) throws {
        if json.type == "Unigram" {
            let model = try UnigramModel(json)
            kind = .unigram(model)
            vocab = model.ids
            unknownToken = model.unknownId.map { model.pieces[$0].piece }
            return
        }
        guard let vocab = json.values["vocab"] as? [String: Any] else { throw json.fail("model has no vocab") }
        var table: [String: Int] = [:]
        for (token, id) in vocab { table[token] = try json.tokenId(id, "vocab id of \(token)") }
        self.vocab = table
        unknownToken = json.optionalString("unk_token")
        switch json.type {
        case "WordPiece":
            kind = .wordPiece(
                prefix: json.optionalString("continuing_subword_prefix") ?? "##",
                maxChars: json.int("max_input_chars_per_word", default: 100))
        case "BPE", nil:
            var ranks: [String: Int] = [:]
            for (rank, merge) in (json.array("merges") ?? []).enumerated() {
                // Two spellings: "a b" (older files) or ["a", "b"].
                if let text = merge as? String {
                    ranks[text] = rank
                } else if let pair = merge as? [String], pair.count == 2 {
                    ranks[pair[0] + " " + pair[1]] = rank
                } else {
                    throw json.fail("merge \(rank) is neither \"a b\" nor [a, b]")
                }
            }
            if json.values["dropout"] is Double { throw json.fail("BPE dropout is not supported") }
            kind = .bpe(
                ranks: ranks, byteFallback: json.bool("byte_fallback", default: false),
                fuseUnknown: json.bool("fuse_unk", default: false), ignoreMerges: json.bool("ignore_merges", default: false),
                continuingPrefix: json.optionalString("continuing_subword_prefix"),
                endOfWordSuffix: json.optionalString("end_of_word_suffix"))
        default:
            throw json.fail("model type \(json.type ?? "") is not supported (WordPiece, BPE, Unigram)")
        }
    }

    /// Token ids of one pre-tokenized word.
    func tokenize(_ word: String) -> [Int] {
        if let cached = cacheLock.withLock({ cache[word] }) { return cached }
        let ids: [Int]
        switch kind {
        case let .wordPiece(prefix, maxChars): ids = wordPiece(word, prefix: prefix, maxChars: maxChars)
        case let .unigram(model): ids = model.encode(word)
        case let .bpe(ranks, byteFallback, fuseUnknown, ignoreMerges, continuingPrefix, suffix):
            ids = bpe(
                word, ranks: ranks, byteFallback: byteFallback, fuseUnknown: fuseUnknown, ignoreMerges: ignoreMerges,
                continuingPrefix: continuingPrefix, suffix: suffix)
        }
        cacheLock.withLock { if cache.count < 100_000 { cache[word] = ids } }
        return ids
    }

    private var unknownId: Int? { unknownToken.flatMap { vocab[$0] } }

    private func wordPiece(_ word: String, prefix: String, maxChars: Int) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxChars { return unknownId.map { [$0] } ?? [] }
        var ids: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = prefix + piece }
                if let id = vocab[piece] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return unknownId.map { [$0] } ?? [] }
            ids.append(id)
            start = end
        }
        return ids
    }

    private func bpe(
        _ word: String, ranks: [String: Int], byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool,
        continuingPrefix: String?, suffix: String?
    ) -> [Int] {
        if ignoreMerges, let id = vocab[word] { return [id] }
        let scalars = Array(word.unicodeScalars)
        var symbols: [String] = scalars.enumerated().map { index, scalar in
            var symbol = String(scalar)
            if index > 0, let continuingPrefix { symbol = continuingPrefix + symbol }
            if index == scalars.count - 1, let suffix { symbol += suffix }
            return symbol
        }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[i] + " " + symbols[i + 1]], best == nil || rank < best!.rank { best = (rank, i) }
            }
            guard let (_, i) = best else { break }
            var merged = symbols[i] + symbols[i + 1]
            if let continuingPrefix, symbols[i + 1].hasPrefix(continuingPrefix) {
                merged = symbols[i] + symbols[i + 1].dropFirst(continuingPrefix.count)
            }
            symbols.replaceSubrange(i...(i + 1), with: [merged])
        }
        var ids: [Int] = []
        var lastWasUnknown = false
        for symbol in symbols {
            if let id = vocab[symbol] {
                ids.append(id)
                lastWasUnknown = false
                continue
            }
            if byteFallback {
                let bytes = symbol.utf8.map { vocab[String(format: "<0x%02X>", $0)] }
                if bytes.allSatisfy({ $0 != nil }) {
                    ids += bytes.map { $0! }
                    lastWasUnknown = false
                    continue
                }
            }
            guard let unknown = unknownId else { continue }
            if !(fuseUnknown && lastWasUnknown) { ids.append(unknown) }
            lastWasUnknown = true
        }
        return ids
    }
}
