import Foundation

/// Exact match and token F1 in percent, the two numbers every extractive QA paper reports.
public struct SQuADScores: Codable, Equatable, Sendable {
    public var exactMatch: Double
    public var f1: Double

    enum CodingKeys: String, CodingKey {
        case exactMatch = "exact_match"
        case f1
    }
}

public enum SQuADMetricsError: Error, CustomStringConvertible, Equatable {
    case noQuestions
    case countMismatch(predictions: Int, references: Int)
    case noReferenceAnswers(question: Int)

    public var description: String {
        switch self {
        case .noQuestions: return "SQuAD metrics need at least one question"
        case .countMismatch(let p, let r): return "\(p) predictions but \(r) questions with references"
        case .noReferenceAnswers(let q): return "question \(q) has no reference answer to score against"
        }
    }
}

/// SQuAD v1.1's official evaluation (also Hugging Face `evaluate`'s "squad"), so that QA fine-tunes are comparable
/// with published numbers. It works on code points as Python does, not on Swift's grapheme clusters.
///
/// Python lowercases a final capital sigma to `ς` by context; this maps every `Σ` to `σ`, the only known difference.
public enum SQuADMetrics {
    /// The answer as the official script compares it: lowercased, ASCII punctuation dropped, the whole words
    /// a/an/the replaced by a space (word characters as Python's Unicode `\w`), whitespace runs collapsed.
    public static func normalize(_ text: String) -> String {
        tokens(text).map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
    }

    /// Whether the normalised answers are identical, compared code point by code point.
    public static func exactMatch(prediction: String, reference: String) -> Bool {
        tokens(prediction) == tokens(reference)
    }

    /// Harmonic mean of token precision and recall with repeated tokens counted as a multiset. Two answers that
    /// normalise to nothing score 0 here though they match exactly: the official script does so.
    public static func f1(prediction: String, reference: String) -> Double {
        let predicted = tokens(prediction), actual = tokens(reference)
        var counts: [[Unicode.Scalar]: Int] = [:]
        for token in actual { counts[token, default: 0] += 1 }
        var same = 0
        for token in predicted where (counts[token] ?? 0) > 0 {
            counts[token]! -= 1
            same += 1
        }
        guard same > 0 else { return 0 }
        let precision = Double(same) / Double(predicted.count)
        let recall = Double(same) / Double(actual.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// The best score over each question's reference answers, averaged over questions and scaled to 0…100.
    public static func score(predictions: [String], references: [[String]]) throws -> SQuADScores {
        guard !predictions.isEmpty else { throw SQuADMetricsError.noQuestions }
        guard predictions.count == references.count else {
            throw SQuADMetricsError.countMismatch(predictions: predictions.count, references: references.count)
        }
        var exact = 0.0, f1Sum = 0.0
        for (q, (prediction, answers)) in zip(predictions, references).enumerated() {
            guard !answers.isEmpty else { throw SQuADMetricsError.noReferenceAnswers(question: q) }
            exact += answers.contains { exactMatch(prediction: prediction, reference: $0) } ? 1 : 0
            f1Sum += answers.map { f1(prediction: prediction, reference: $0) }.max()!
        }
        let n = Double(predictions.count)
        return SQuADScores(exactMatch: 100 * exact / n, f1: 100 * f1Sum / n)
    }

    /// The normalised answer split on whitespace.
    static func tokens(_ text: String) -> [[Unicode.Scalar]] {
        var lowered: [Unicode.Scalar] = []
        for scalar in text.unicodeScalars {
            lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        let kept = lowered.filter { !isASCIIPunctuation($0) }
        var spaced: [Unicode.Scalar] = []
        var i = 0
        while i < kept.count {
            if i == 0 || !isWordCharacter(kept[i - 1]), let length = articleLength(in: kept, at: i) {
                spaced.append(" ")
                i += length
            } else {
                spaced.append(kept[i])
                i += 1
            }
        }
        return spaced.split(whereSeparator: isPythonWhitespace).map(Array.init)
    }

    /// Length of `a`, `an` or `the` at `index` when a word boundary follows it, as `\b(a|an|the)\b` matches.
    private static func articleLength(in text: [Unicode.Scalar], at index: Int) -> Int? {
        for article in ["the", "an", "a"] {
            let scalars = Array(article.unicodeScalars)
            let end = index + scalars.count
            guard end <= text.count, Array(text[index..<end]) == scalars else { continue }
            if end == text.count || !isWordCharacter(text[end]) { return scalars.count }
        }
        return nil
    }

    /// Python's `string.punctuation`: ASCII only, so `—` or `¿` stay in the answer.
    static func isASCIIPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// Python's `\w` on str: letters (Lu, Ll, Lt, Lm, Lo), anything with a numeric value, and `_`.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar.properties.numericType != nil { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// Python's `str.split()` separators: Unicode White_Space plus the ASCII separators U+001C…U+001F.
    static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }
}
