import Foundation

/// Evaluation metrics as the usual libraries compute them.
public enum Metrics {
    /// Fraction of predictions equal to the labels.
    public static func accuracy(predictions: [Int], labels: [Int]) -> Double {
        guard !labels.isEmpty else { return 0 }
        return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// Unweighted mean of per-class F1 over the classes that occur in labels or predictions
    /// (scikit-learn's `f1_score(average="macro")`; a class with no true or predicted example has F1 0).
    public static func macroF1(predictions: [Int], labels: [Int], classes: Int) -> Double {
        macroF1(counts: classCounts(predictions: predictions, labels: labels, classes: classes))
    }

    /// Macro-F1 from each class's true positives, false positives and false negatives.
    public static func macroF1(counts: [(tp: Int, fp: Int, fn: Int)]) -> Double {
        var scores: [Double] = []
        for (tp, fp, fn) in counts {
            guard tp + fp + fn > 0 else { continue }
            scores.append(tp == 0 ? 0 : 2 * Double(tp) / Double(2 * tp + fp + fn))
        }
        return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }

    /// Per class: predictions of it that are right (tp), wrong (fp), and its labels missed (fn).
    public static func classCounts(predictions: [Int], labels: [Int], classes: Int) -> [(tp: Int, fp: Int, fn: Int)] {
        (0..<classes).map { c in
            (
                zip(predictions, labels).filter { $0 == c && $1 == c }.count, zip(predictions, labels).filter { $0 == c && $1 != c }.count,
                zip(predictions, labels).filter { $0 != c && $1 == c }.count
            )
        }
    }

    /// exp(mean token loss).
    public static func perplexity(meanLoss: Double) -> Double { exp(min(meanLoss, 700)) }

    /// Whether a metric improves when it goes up.
    public static func higherIsBetter(_ name: String) -> Bool { !["loss", "perplexity", "eval_loss"].contains(name) }
}
