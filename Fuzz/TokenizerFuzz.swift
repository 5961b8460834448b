// tokenizer.json: the Tokenizer as Tokenizer(path:) builds it (JSONSerialization, then
// Tokenizer(json:file:) with its model, normalizer, pre-tokenizer, post-processor, decoder and
// added tokens; Sources/Tokenizers), then encoding short texts with it (single, pair, truncated,
// batch-padded), decoding the ids back, and the vocabulary lookups.
// The texts are fixed, plus one made of the file's own added tokens and a few vocabulary entries,
// so added-token splitting and the model's merges are reached whatever the vocabulary.
import Foundation

@testable import Tokenizers

enum Harness {
    static func setUp() {}

    static let texts = [
        "Hello, world! The café's naïve résumé costs $12.50 (really?)",
        "  leading and trailing spaces \t tabs\nnewlines\r\n ",
        "日本語のテキスト 中文 한국어 emoji 🙂👍🏽 and a ZWJ 👩‍👩‍👧",
        "don't won't I'm we've they're it's 1234567890 x²",
        "",
    ]

    static func run(_ bytes: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let tokenizer = try? Tokenizer(json: object, file: "fuzz")
        else { return }
        let special = tokenizer.addedTokens.prefix(4).map(\.content)
        let vocabulary = tokenizer.model.vocab.keys.sorted().prefix(3)
        let own = (special + vocabulary).joined(separator: " x") + " end"
        for (index, text) in (texts + [own]).enumerated() {
            let encoding = tokenizer.encode(text)
            precondition(encoding.ids.count == encoding.tokens.count && encoding.ids.count == encoding.typeIds.count)
            _ = tokenizer.decode(encoding.ids)
            _ = tokenizer.decode(encoding.ids, skipSpecialTokens: false)
            if index == 0 {
                let pair = tokenizer.encode(text, pair: own, maxLength: 16)
                _ = tokenizer.decode(pair.ids)
                _ = tokenizer.encode(own, addSpecialTokens: false, maxLength: 3)
            }
        }
        _ = tokenizer.encodeBatch(["short", own], maxLength: 32, padding: .longest)
        _ = tokenizer.encodeBatch(["a", "b c"], pairs: ["d", own], maxLength: 8, padding: .fixed(10))
        _ = tokenizer.vocabularySize
        for token in special { _ = tokenizer.id(of: token) }
        for id in [0, 1, 2, 100, -1] { _ = tokenizer.token(of: id) }
    }

    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles("tokenizers", suffix: ".json") where !path.hasSuffix("goldens.json") {
            Fuzz.seed(Fuzz.read(path), named: path, into: folder)
        }
        for model in ["tiny-bert", "tiny-llama"] {
            let path = Fuzz.fixtures + "/" + model + "/tokenizer.json"
            Fuzz.seed(Fuzz.read(path), named: path, into: folder)
        }
    }
}
