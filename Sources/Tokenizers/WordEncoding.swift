/// Encodings of text already split into words (transformers' `is_split_into_words`, tokenizers'
/// pre-tokenized input), which token-level tasks need: each token knows the word it came from.
extension Tokenizer {
    /// An encoding whose tokens point back at their input.
    public struct WordEncoding: Sendable, Equatable {
        public var encoding: Encoding
        /// The word each token belongs to within its sequence; nil for special tokens.
        public var wordIds: [Int?]
        /// Which sequence (0, or 1 for a pair's second) each token belongs to; nil for special tokens.
        public var sequenceIds: [Int?]
    }

    /// The ids of `words`, each tokenized on its own as the start of a text (as tokenizers treats
    /// every pre-tokenized word), and the index of the word each id came from.
    public func ids(ofWords words: [String]) -> (ids: [Int], wordIds: [Int]) {
        var ids: [Int] = [], wordIds: [Int] = []
        for (index, word) in words.enumerated() {
            let pieces = tokenize(word)
            ids += pieces
            wordIds += [Int](repeating: index, count: pieces.count)
        }
        return (ids, wordIds)
    }

    /// Encodes pre-split `words` (and `pair`), truncated longest-first to `maxLength`, with the
    /// post-processor's special tokens.
    public func encode(words: [String], pair: [String]? = nil, maxLength: Int? = nil) -> WordEncoding {
        var (a, aWords) = ids(ofWords: words)
        var b = pair.map { ids(ofWords: $0) }
        if let maxLength {
            var bIds = b?.ids
            Self.truncateLongestFirst(&a, &bIds, to: max(0, maxLength - specialTokenCount(pair: pair != nil)))
            aWords = Array(aWords.prefix(a.count))
            if let bIds, let full = b { b = (bIds, Array(full.wordIds.prefix(bIds.count))) }
        }
        return combine(a, wordIds: aWords, b?.ids, wordIds: b?.wordIds)
    }

    /// The special tokens the post-processor adds around one sequence or a pair.
    public func specialTokenCount(pair: Bool) -> Int { postProcessor?.addedCount(pair: pair) ?? 0 }

    /// Sequences `a` (and `b`) of ids with the post-processor's special tokens, each token keeping
    /// the word id it had in its sequence.
    public func combine(_ a: [Int], wordIds aWords: [Int], _ b: [Int]?, wordIds bWords: [Int]?) -> WordEncoding {
        guard let postProcessor else {
            let ids = a + (b ?? [])
            return WordEncoding(
                encoding: Encoding(
                    ids: ids, tokens: ids.map { token(of: $0) ?? "" },
                    typeIds: [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b?.count ?? 0),
                    attentionMask: [Int](repeating: 1, count: ids.count)),
                wordIds: aWords + (bWords ?? []), sequenceIds: a.map { _ in 0 } + (b ?? []).map { _ in 1 })
        }
        // Special ids are never negative: negative markers show where each sequence's tokens land.
        let markersA = a.indices.map { -1 - $0 }
        let markersB = b.map { $0.indices.map { -1 - a.count - $0 } }
        let (marked, typeIds) = postProcessor.process(markersA, markersB)
        var ids: [Int] = [], wordIds: [Int?] = [], sequenceIds: [Int?] = []
        for id in marked {
            guard id < 0 else {
                ids.append(id)
                wordIds.append(nil)
                sequenceIds.append(nil)
                continue
            }
            let position = -1 - id
            if position < a.count {
                ids.append(a[position])
                wordIds.append(aWords[position])
                sequenceIds.append(0)
            } else {
                ids.append(b![position - a.count])
                wordIds.append(bWords?[position - a.count])
                sequenceIds.append(1)
            }
        }
        return WordEncoding(
            encoding: Encoding(
                ids: ids, tokens: ids.map { token(of: $0) ?? "" }, typeIds: typeIds,
                attentionMask: [Int](repeating: 1, count: ids.count)),
            wordIds: wordIds, sequenceIds: sequenceIds)
    }
}

/// Splits text into words with their character ranges, at whitespace and around punctuation
/// (as BERT's pre-tokenizer cuts text), so that word-level predictions map back onto the input.
public enum WordSplitter {
    public struct Word: Sendable, Equatable {
        public var text: String
        /// The word's characters in the input, counted in Unicode scalars (Python's string indices).
        public var range: Range<Int>
    }

    public static func split(_ text: String) -> [Word] {
        var words: [Word] = []
        var current = "", start = 0, index = 0
        func flush() {
            if !current.isEmpty { words.append(Word(text: current, range: start..<index)) }
            current = ""
        }
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                flush()
            } else if isPunctuation(scalar) {
                flush()
                words.append(Word(text: String(scalar), range: index..<(index + 1)))
            } else {
                if current.isEmpty { start = index }
                current.unicodeScalars.append(scalar)
            }
            index += 1
        }
        flush()
        return words
    }

    /// BERT's punctuation: the ASCII symbols and every Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }
}
