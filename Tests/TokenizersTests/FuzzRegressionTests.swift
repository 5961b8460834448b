import Foundation
import TailorTestSupport
import Testing

@testable import Tokenizers

/// tokenizer.json files that trapped (fixtures/fuzz-regressions/tokenizer, see Fuzz/README.md)
/// are refused with a TokenizerError: token ids are u32, as in tokenizers.
@Suite struct TokenizersFuzzRegressionTests {
    /// A vocab id of Int.max overflowed `vocabularySize` (found by review).
    @Test func vocabIdOutsideU32IsRefused() {
        let path = FixturePaths.path("fuzz-regressions/tokenizer/vocab-id-int-max.json")
        #expect { _ = try Tokenizer(path: path) } throws: { error in
            error is TokenizerError && "\(error)".contains("vocab id of a is not a token id")
        }
    }

    /// Negative ids would index embeddings before their start (an added token, a special token
    /// of the post-processor, the padding id).
    @Test func negativeIdsAreRefused() throws {
        let base: [String: Any] = ["model": ["type": "WordPiece", "vocab": ["[UNK]": 0, "a": 1], "unk_token": "[UNK]"]]
        var added = base
        added["added_tokens"] = [["id": -1, "content": "[X]", "special": true]]
        var processor = base
        processor["post_processor"] = ["type": "BertProcessing", "cls": ["[CLS]", -3], "sep": ["[SEP]", 1]]
        var template = base
        template["post_processor"] = [
            "type": "TemplateProcessing", "single": [["SpecialToken": ["id": "[CLS]"]]],
            "special_tokens": ["[CLS]": ["ids": [-7]]],
        ]
        var padding = base
        padding["padding"] = ["pad_id": -1]
        for json in [added, processor, template, padding] {
            #expect(throws: TokenizerError.self) { _ = try Tokenizer(json: json, file: "tokenizer.json") }
        }
        #expect(try Tokenizer(json: base, file: "tokenizer.json").vocabularySize == 2)
    }
}
