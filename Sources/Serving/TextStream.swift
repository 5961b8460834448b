import Tokenizers

/// Turns a growing list of generated tokens into text deltas a client can print as they come,
/// and finds the request's stop strings in them.
///
/// Decoding only a window of recent tokens keeps each step cheap; the window starts one token
/// before the new ones, so a decoder that strips the first token's leading space (Metaspace)
/// strips it from text already sent. A delta ending in U+FFFD is half of a multi-byte character
/// split across tokens: it waits for the next token. Text that could be the start of a stop
/// string is held back until it is clear it is not one, so the client never sees a stop string.
struct TextStream {
    let tokenizer: Tokenizer
    let stops: [String]
    private(set) var tokens: [Int] = []
    /// Everything sent to the client so far.
    private(set) var emitted = ""
    private var pending = ""
    private var prefixOffset = 0
    private var readOffset = 0

    init(tokenizer: Tokenizer, stops: [String]) {
        self.tokenizer = tokenizer
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Adds `token`; returns the text that may be sent now and whether a stop string ended it.
    mutating func append(_ token: Int) -> (delta: String, stopped: Bool) {
        tokens.append(token)
        let before = tokenizer.decode(Array(tokens[prefixOffset..<readOffset]))
        let after = tokenizer.decode(Array(tokens[prefixOffset...]))
        guard after.count > before.count, !after.hasSuffix("\u{FFFD}"), after.hasPrefix(before) else { return ("", false) }
        pending += after.dropFirst(before.count)
        prefixOffset = readOffset
        readOffset = tokens.count
        return release()
    }

    /// What is still held back, once generation ended without a stop string.
    mutating func flush() -> String {
        let rest = tokenizer.decode(Array(tokens[prefixOffset...]))
        let before = tokenizer.decode(Array(tokens[prefixOffset..<readOffset]))
        if rest.count > before.count, rest.hasPrefix(before) { pending += rest.dropFirst(before.count) }
        prefixOffset = tokens.count
        readOffset = tokens.count
        defer {
            emitted += pending
            pending = ""
        }
        return pending
    }

    private mutating func release() -> (delta: String, stopped: Bool) {
        if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            let delta = String(pending[..<cut])
            emitted += delta
            pending = ""
            return (delta, true)
        }
        let held = stops.map { stop in Self.overlap(of: pending, withPrefixOf: stop) }.max() ?? 0
        let delta = String(pending.dropLast(held))
        pending = String(pending.suffix(held))
        emitted += delta
        return (delta, false)
    }

    /// The length of the longest suffix of `text` that `stop` starts with.
    static func overlap(of text: String, withPrefixOf stop: String) -> Int {
        var length = min(text.count, stop.count - 1)
        while length > 0 {
            if stop.hasPrefix(text.suffix(length)) { return length }
            length -= 1
        }
        return 0
    }
}
