import Foundation
import TailorTestSupport
import Testing
import Tokenizers

@testable import Serving

/// Streamed text adds up to the whole decode, never shows a stop string, and never splits a
/// character.
@Suite struct TextStreamTests {
    static let tokenizer = try! Tokenizer(path: FixturePaths.path("tiny-llama"))

    @Test func deltasAddUpToTheWholeDecode() throws {
        let ids = Self.tokenizer.encode("Héllo wörld, ünïcode ✓ and more text", addSpecialTokens: false).ids
        var stream = TextStream(tokenizer: Self.tokenizer, stops: [])
        var text = ""
        for id in ids {
            let (delta, stopped) = stream.append(id)
            #expect(!stopped)
            #expect(!delta.contains("\u{FFFD}"), "a delta split a character: \(delta)")
            text += delta
        }
        text += stream.flush()
        #expect(text == Self.tokenizer.decode(ids))
        #expect(stream.emitted == text)
    }

    @Test func aStopStringEndsTheTextAndIsNeverSent() throws {
        let ids = Self.tokenizer.encode("one two three four five", addSpecialTokens: false).ids
        var stream = TextStream(tokenizer: Self.tokenizer, stops: ["three", "zzz"])
        var sent = "", stoppedAt: Int?
        for (index, id) in ids.enumerated() {
            let (delta, stopped) = stream.append(id)
            sent += delta
            if stopped {
                stoppedAt = index
                break
            }
        }
        #expect(stoppedAt != nil)
        #expect(sent == "one two ")
        #expect(!sent.contains("th"), "the start of a stop string is held back")
    }

    @Test func heldBackTextIsReleasedWhenNoStopFollows() {
        #expect(TextStream.overlap(of: "abc th", withPrefixOf: "three") == 2)
        #expect(TextStream.overlap(of: "abc", withPrefixOf: "three") == 0)
        #expect(TextStream.overlap(of: "thre", withPrefixOf: "three") == 4)
        let ids = Self.tokenizer.encode("say th then", addSpecialTokens: false).ids
        var stream = TextStream(tokenizer: Self.tokenizer, stops: ["three"])
        var sent = ""
        for id in ids { sent += stream.append(id).delta }
        sent += stream.flush()
        #expect(sent == Self.tokenizer.decode(ids))
    }
}
