import Foundation
import TailorTestSupport
import Testing

@testable import Tokenizers

/// Words encoded as tokenizers encodes pre-tokenized input (`is_pretokenized=True`), from
/// Scripts/reference/task_goldens.py: ids, tokens, type ids, and each token's word and sequence.
@Suite struct PretokenizedParityTests {
    static func golden() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("tokenizers/pretokenized.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func optionalInts(_ value: Any?) -> [Int?] { (value as? [Any] ?? []).map { $0 as? Int } }

    @Test(arguments: ["tiny-bert", "tiny-roberta"]) func singlesAndPairs(_ name: String) throws {
        let entry = try #require(try Self.golden()[name] as? [String: Any])
        let tokenizer = try Tokenizer(path: FixturePaths.repositoryRoot.appendingPathComponent(entry["tokenizer"] as! String).path)
        let singles = try #require(entry["singles"] as? [[String: Any]])
        let pairs = try #require(entry["pairs"] as? [[String: Any]])
        #expect(singles.count >= 8 && pairs.count >= 4)
        for single in singles {
            let words = single["words"] as! [String]
            let encoded = tokenizer.encode(words: words)
            #expect(encoded.encoding.ids == single["ids"] as! [Int], "\(words)")
            #expect(encoded.encoding.tokens == single["tokens"] as! [String], "\(words)")
            #expect(encoded.encoding.typeIds == single["type_ids"] as! [Int], "\(words)")
            #expect(encoded.wordIds == Self.optionalInts(single["word_ids"]), "\(words)")
        }
        for pair in pairs {
            let (a, b) = (pair["a"] as! [String], pair["b"] as! [String])
            let encoded = tokenizer.encode(words: a, pair: b)
            #expect(encoded.encoding.ids == pair["ids"] as! [Int], "\(a) \(b)")
            #expect(encoded.encoding.typeIds == pair["type_ids"] as! [Int], "\(a) \(b)")
            #expect(encoded.wordIds == Self.optionalInts(pair["word_ids"]), "\(a) \(b)")
            #expect(encoded.sequenceIds == Self.optionalInts(pair["sequence_ids"]), "\(a) \(b)")
        }
    }
}
