import Foundation

/// Precision, recall and F-measure of one ROUGE variant for one pair or averaged over pairs.
public struct RougeScore: Codable, Equatable, Sendable {
    public var precision: Double
    public var recall: Double
    public var fmeasure: Double
}

/// The four ROUGE variants summarisation papers report, keyed as `rouge_score` names them.
public struct RougeScores: Codable, Equatable, Sendable {
    public var rouge1: RougeScore
    public var rouge2: RougeScore
    public var rougeL: RougeScore
    /// Encoded as `rougeL`/`rougeLsum`, the names `rouge_score` and `evaluate` print, so outputs can be diffed.
    public var rougeLsum: RougeScore
}

/// Per-pair scores and their plain mean. No bootstrap interval: a plain mean is the same on every run.
public struct RougeReport: Codable, Equatable, Sendable {
    public var pairs: [RougeScores]
    public var mean: RougeScores
}

public enum RougeMetricsError: Error, CustomStringConvertible, Equatable {
    case noPairs
    case countMismatch(references: Int, predictions: Int)

    public var description: String {
        switch self {
        case .noPairs: return "ROUGE needs at least one reference/prediction pair"
        case .countMismatch(let r, let p): return "\(r) references but \(p) predictions"
        }
    }
}

/// ROUGE exactly as Google's `rouge_score` (the package behind Hugging Face `evaluate`'s rouge) computes it, with or
/// without its Porter stemmer, so summarisation results line up with published tables.
public enum RougeMetrics {
    /// `rouge_score`'s default tokenizer: lowercase, every run of characters outside a–z and 0–9 becomes a separator.
    /// Accented letters therefore split words (`café` gives `caf`), as in the reference.
    /// - Parameter useStemmer: stem with ``PorterStemmer`` as `use_stemmer=True` does, which leaves tokens of three
    ///   characters or fewer alone ("was" stays, though the stemmer alone would give "wa").
    public static func tokenize(_ text: String, useStemmer: Bool = false) -> [String] {
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            for lower in scalar.properties.lowercaseMapping.unicodeScalars {
                if ("a"..."z").contains(lower) || ("0"..."9").contains(lower) {
                    current.append(lower)
                } else if !current.isEmpty {
                    tokens.append(String(current))
                    current = String.UnicodeScalarView()
                }
            }
        }
        if !current.isEmpty { tokens.append(String(current)) }
        guard useStemmer else { return tokens }
        return tokens.map { $0.unicodeScalars.count > 3 ? PorterStemmer.stem($0) : $0 }
    }

    /// All four variants for one pair. rougeLsum splits both texts on `\n` only (put one sentence per line first)
    /// and scores the union LCS of each reference sentence against every predicted sentence.
    public static func score(reference: String, prediction: String, useStemmer: Bool = false) -> RougeScores {
        let r = tokenize(reference, useStemmer: useStemmer), p = tokenize(prediction, useStemmer: useStemmer)
        return RougeScores(
            rouge1: ngramScore(reference: r, prediction: p, n: 1), rouge2: ngramScore(reference: r, prediction: p, n: 2),
            rougeL: lcsScore(reference: r, prediction: p),
            rougeLsum: summaryLCSScore(
                reference: sentences(reference, useStemmer: useStemmer), prediction: sentences(prediction, useStemmer: useStemmer)))
    }

    /// Scores every pair and their mean.
    /// - Parameter useStemmer: `rouge_score`'s `use_stemmer`; see ``tokenize(_:useStemmer:)``.
    public static func report(references: [String], predictions: [String], useStemmer: Bool = false) throws -> RougeReport {
        guard !references.isEmpty else { throw RougeMetricsError.noPairs }
        guard references.count == predictions.count else {
            throw RougeMetricsError.countMismatch(references: references.count, predictions: predictions.count)
        }
        let pairs = zip(references, predictions).map { score(reference: $0, prediction: $1, useStemmer: useStemmer) }
        func mean(_ key: KeyPath<RougeScores, RougeScore>) -> RougeScore {
            let n = Double(pairs.count)
            return RougeScore(
                precision: pairs.map { $0[keyPath: key].precision }.reduce(0, +) / n,
                recall: pairs.map { $0[keyPath: key].recall }.reduce(0, +) / n,
                fmeasure: pairs.map { $0[keyPath: key].fmeasure }.reduce(0, +) / n)
        }
        return RougeReport(
            pairs: pairs,
            mean: RougeScores(rouge1: mean(\.rouge1), rouge2: mean(\.rouge2), rougeL: mean(\.rougeL), rougeLsum: mean(\.rougeLsum)))
    }

    /// ROUGE-N: clipped n-gram overlap. An empty side gives 0, not a division by zero.
    public static func ngramScore(reference: [String], prediction: [String], n: Int) -> RougeScore {
        let r = ngrams(reference, n), p = ngrams(prediction, n)
        let overlap = r.reduce(0) { $0 + min($1.value, p[$1.key] ?? 0) }
        let precision = Double(overlap) / Double(max(p.values.reduce(0, +), 1))
        let recall = Double(overlap) / Double(max(r.values.reduce(0, +), 1))
        return RougeScore(precision: precision, recall: recall, fmeasure: fmeasure(precision, recall))
    }

    /// ROUGE-L over the whole text as one sequence.
    public static func lcsScore(reference: [String], prediction: [String]) -> RougeScore {
        guard !reference.isEmpty, !prediction.isEmpty else { return RougeScore(precision: 0, recall: 0, fmeasure: 0) }
        let length = Double(lcsTable(reference, prediction)[reference.count][prediction.count])
        let precision = length / Double(prediction.count), recall = length / Double(reference.count)
        return RougeScore(precision: precision, recall: recall, fmeasure: fmeasure(precision, recall))
    }

    /// Summary-level LCS (Lin 2004, §3.2) as `rouge_score` implements it: a token of a reference sentence's union
    /// LCS counts as a hit only while both summaries still have an unused copy of it.
    public static func summaryLCSScore(reference: [[String]], prediction: [[String]]) -> RougeScore {
        let zero = RougeScore(precision: 0, recall: 0, fmeasure: 0)
        let m = reference.reduce(0) { $0 + $1.count }, n = prediction.reduce(0) { $0 + $1.count }
        guard m > 0, n > 0 else { return zero }
        var referenceCounts: [String: Int] = [:], predictionCounts: [String: Int] = [:]
        for token in reference.joined() { referenceCounts[token, default: 0] += 1 }
        for token in prediction.joined() { predictionCounts[token, default: 0] += 1 }
        var hits = 0
        for sentence in reference {
            var union = Set<Int>()
            for candidate in prediction { union.formUnion(lcsIndices(sentence, candidate)) }
            for index in union.sorted() {
                let token = sentence[index]
                if (predictionCounts[token] ?? 0) > 0 && (referenceCounts[token] ?? 0) > 0 {
                    hits += 1
                    predictionCounts[token]! -= 1
                    referenceCounts[token]! -= 1
                }
            }
        }
        let precision = Double(hits) / Double(n), recall = Double(hits) / Double(m)
        return RougeScore(precision: precision, recall: recall, fmeasure: fmeasure(precision, recall))
    }

    /// Non-empty `\n`-separated lines, tokenised; `\r` stays in the line and tokenises away.
    static func sentences(_ text: String, useStemmer: Bool = false) -> [[String]] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true).map { tokenize(String($0), useStemmer: useStemmer) }
    }

    private static func ngrams(_ tokens: [String], _ n: Int) -> [ArraySlice<String>: Int] {
        var counts: [ArraySlice<String>: Int] = [:]
        guard n > 0, tokens.count >= n else { return counts }
        for i in 0...(tokens.count - n) { counts[tokens[i..<(i + n)], default: 0] += 1 }
        return counts
    }

    private static func lcsTable(_ a: [String], _ b: [String]) -> [[Int]] {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                table[i][j] = a[i - 1] == b[j - 1] ? table[i - 1][j - 1] + 1 : max(table[i - 1][j], table[i][j - 1])
            }
        }
        return table
    }

    /// Positions in `a` of one LCS with `b`. Which LCS matters for rougeLsum's union, so the walk breaks ties as
    /// `rouge_score`'s backtrack does: step left in `b` only when that keeps a strictly longer LCS.
    private static func lcsIndices(_ a: [String], _ b: [String]) -> [Int] {
        let table = lcsTable(a, b)
        var i = a.count, j = b.count
        var indices: [Int] = []
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                indices.append(i - 1)
                i -= 1
                j -= 1
            } else if table[i][j - 1] > table[i - 1][j] {
                j -= 1
            } else {
                i -= 1
            }
        }
        return indices.reversed()
    }

    private static func fmeasure(_ precision: Double, _ recall: Double) -> Double {
        precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    }
}
