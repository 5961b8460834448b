import Foundation
import TailorTestSupport
import Testing

@testable import Tokenizers

/// Token ids equal to HF `tokenizers` 0.23.3 on a multilingual text (accents, CJK, emoji,
/// whitespace runs, special tokens) for each kind of tokenizer (fixtures/tokenizers/).
@Suite struct TokenizerParityTests {
    nonisolated(unsafe) static let goldens: [String: [String: Any]] = {
        let url = URL(fileURLWithPath: FixturePaths.path("tokenizers/goldens.json"))
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return root["tokenizers"] as! [String: [String: Any]]
    }()

    static let kinds = ["wordpiece", "gpt2-bpe", "llama3-bpe", "metaspace-bpe", "metaspace-normalizer-bpe", "t5-unigram"]

    @Test(arguments: kinds)
    func idsTokensAndDecoding(kind: String) throws {
        let tokenizer = try Tokenizer(path: FixturePaths.path("tokenizers/\(kind).json"))
        let cases = Self.goldens[kind]!["cases"] as! [[String: Any]]
        for golden in cases {
            let text = golden["text"] as! String
            let encoding = tokenizer.encode(text)
            #expect(
                encoding.ids == golden["ids"] as! [Int],
                "\(kind): \(text.debugDescription)\n ours   \(encoding.tokens)\n theirs \(golden["tokens"] as! [String])")
            #expect(encoding.typeIds == golden["type_ids"] as! [Int], "\(kind): type ids of \(text.debugDescription)")
            let ids = golden["ids"] as! [Int]
            #expect(tokenizer.decode(ids) == golden["decoded"] as! String, "\(kind): decode of \(text.debugDescription)")
            #expect(
                tokenizer.decode(ids, skipSpecialTokens: false) == golden["decoded_with_special"] as! String,
                "\(kind): decode with special tokens of \(text.debugDescription)")
        }
    }

    @Test(arguments: kinds)
    func pairsTruncationAndPadding(kind: String) throws {
        let tokenizer = try Tokenizer(path: FixturePaths.path("tokenizers/\(kind).json"))
        let pair = Self.goldens[kind]!["pair"] as! [String: Any]
        let encoding = tokenizer.encode(pair["a"] as! String, pair: pair["b"] as? String)
        #expect(encoding.ids == pair["ids"] as! [Int], "\(kind): pair ids")
        #expect(encoding.typeIds == pair["type_ids"] as! [Int], "\(kind): pair type ids")
        let batch = Self.goldens[kind]!["truncated_padded"] as! [String: Any]
        let encodings = tokenizer.encodeBatch(batch["texts"] as! [String], maxLength: 16, padding: .fixed(16), padId: 0)
        #expect(encodings.map(\.ids) == batch["ids"] as! [[Int]], "\(kind): truncated and padded ids")
        #expect(encodings.map(\.attentionMask) == batch["attention_mask"] as! [[Int]], "\(kind): attention masks")
    }

    /// Unigram (T5): characters no piece covers become one unknown id per run, as tokenizers
    /// fuses them.
    @Test func unigramFusesRunsOfUnknownCharacters() throws {
        let tokenizer = try Tokenizer(path: FixturePaths.path("tokenizers/t5-unigram.json"))
        let cases = try #require(Self.goldens["t5-unigram"]!["unknown"] as? [[String: Any]])
        #expect(cases.count == 3)
        for golden in cases {
            let text = golden["text"] as! String
            #expect(tokenizer.encode(text).ids == golden["ids"] as! [Int], "\(text)")
        }
    }

    /// Left padding (a decoder family's choice) puts the same pad ids, type ids and zero mask
    /// entries before each row instead of after it; the real tokens are unchanged.
    @Test(arguments: ["wordpiece", "gpt2-bpe"])
    func leftPaddingMirrorsRightPadding(kind: String) throws {
        let tokenizer = try Tokenizer(path: FixturePaths.path("tokenizers/\(kind).json"))
        let texts = ["short", "a somewhat longer sentence to pad the other one"]
        let right = tokenizer.encodeBatch(texts, padId: 7)
        let left = tokenizer.encodeBatch(texts, padId: 7, side: .left)
        for (r, l) in zip(right, left) {
            let missing = r.attentionMask.filter { $0 == 0 }.count
            #expect(l.ids == Array(r.ids.suffix(missing)) + Array(r.ids.prefix(r.ids.count - missing)), "\(kind): ids")
            #expect(l.attentionMask == [Int](repeating: 0, count: missing) + [Int](repeating: 1, count: r.ids.count - missing))
            #expect(l.typeIds == Array(r.typeIds.suffix(missing)) + Array(r.typeIds.prefix(r.typeIds.count - missing)))
        }
        #expect(right[0].attentionMask.contains(0), "the short text is padded")
    }
}
