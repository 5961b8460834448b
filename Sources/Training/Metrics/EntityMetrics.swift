import Foundation

/// One chunk found in a tag sequence; `start` and `end` are inclusive positions in the sentences laid end to end
/// with one `O` after each, as seqeval numbers them, so that chunks from different sentences never compare equal.
public struct Entity: Hashable, Codable, Sendable {
    public var type: String
    public var start: Int
    public var end: Int

    public init(type: String, start: Int, end: Int) {
        self.type = type
        self.start = start
        self.end = end
    }
}

/// Precision, recall and F1 of one entity type or one average; `support` counts the reference entities.
public struct EntityScores: Codable, Equatable, Sendable {
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: Int
}

/// One row of seqeval's `classification_report`.
public struct EntityTypeScores: Codable, Equatable, Sendable {
    public var type: String
    public var scores: EntityScores
}

/// seqeval's `classification_report` as data: NER is scored on whole entities, not tokens, so a model that tags
/// most tokens right but splits entities scores low here, which is the point.
public struct EntityReport: Codable, Equatable, Sendable {
    public var micro: EntityScores
    /// nil when neither side has an entity: seqeval averages an empty list and reports NaN, which JSON cannot hold.
    public var macro: EntityScores?
    public var weighted: EntityScores
    /// In seqeval's order: sorted by Unicode code points, as Python sorts strings.
    public var types: [EntityTypeScores]
}

public enum EntityMetricsError: Error, CustomStringConvertible, Equatable {
    case noSequences
    case sequenceCountMismatch(references: Int, predictions: Int)
    case lengthMismatch(sequence: Int, references: Int, predictions: Int)
    case emptyTag(sequence: Int, position: Int)

    public var description: String {
        switch self {
        case .noSequences: return "entity metrics need at least one sequence"
        case .sequenceCountMismatch(let r, let p): return "\(r) reference sequences but \(p) predicted sequences"
        case .lengthMismatch(let s, let r, let p): return "sequence \(s): \(r) reference tags but \(p) predicted tags"
        case .emptyTag(let s, let i): return "sequence \(s), position \(i): an empty tag has no scheme letter"
        }
    }
}

/// Entity-level NER metrics in seqeval's default mode (conlleval-compatible, not `mode="strict"`), so that numbers
/// reported by Tailor compare with those of every Hugging Face token-classification example.
public enum EntityMetrics {
    /// The chunks of tag sequences as seqeval's `get_entities` finds them. The default mode is lenient on purpose:
    /// an `I-` after `O` or after another type opens a chunk, `E-` and `S-` close one, and a tag whose first letter is
    /// none of B/I/E/S/O still takes part through its type. The tag's first character is its scheme letter and the
    /// type is what follows the first `-` after it (`_` when empty).
    public static func entities(in sequences: [[String]]) throws -> [Entity] {
        var tags: [[Unicode.Scalar]] = []
        for (s, sequence) in sequences.enumerated() {
            for (i, tag) in sequence.enumerated() {
                guard !tag.isEmpty else { throw EntityMetricsError.emptyTag(sequence: s, position: i) }
                tags.append(Array(tag.unicodeScalars))
            }
            tags.append(["O"])
        }
        tags.append(["O"])
        var chunks: [Entity] = []
        var previousTag: Unicode.Scalar = "O"
        var previousType: [Unicode.Scalar] = []
        var begin = 0
        for (i, scalars) in tags.enumerated() {
            let tag = scalars[0]
            let rest = scalars.dropFirst()
            var type = rest.firstIndex(of: "-").map { Array(rest[($0 + 1)...]) } ?? Array(rest)
            if type.isEmpty { type = ["_"] }
            if endsChunk(previousTag, tag, sameType: previousType == type) {
                chunks.append(Entity(type: String(String.UnicodeScalarView(previousType)), start: begin, end: i - 1))
            }
            if startsChunk(previousTag, tag, sameType: previousType == type) { begin = i }
            previousTag = tag
            previousType = type
        }
        return chunks
    }

    /// Micro, macro and weighted averages and one row per entity type, as seqeval's `classification_report`.
    /// Scores with a zero denominator are 0, seqeval's default `zero_division`.
    public static func report(references: [[String]], predictions: [[String]]) throws -> EntityReport {
        let (truth, guess) = try entitiesByType(references: references, predictions: predictions)
        let names = Set(truth.keys).union(guess.keys).sorted { $0.lexicographicallyPrecedes($1) }
        var rows: [EntityTypeScores] = []
        var (tpAll, predAll, trueAll) = (0, 0, 0)
        for name in names {
            let t = truth[name] ?? [], p = guess[name] ?? []
            let tp = t.intersection(p).count
            tpAll += tp
            predAll += p.count
            trueAll += t.count
            rows.append(
                EntityTypeScores(type: String(String.UnicodeScalarView(name)), scores: scores(tp: tp, predicted: p.count, actual: t.count)))
        }
        let micro = scores(tp: tpAll, predicted: predAll, actual: trueAll)
        var macro: EntityScores?
        if !rows.isEmpty {
            let n = Double(rows.count)
            macro = EntityScores(
                precision: rows.map(\.scores.precision).reduce(0, +) / n, recall: rows.map(\.scores.recall).reduce(0, +) / n,
                f1: rows.map(\.scores.f1).reduce(0, +) / n, support: trueAll)
        }
        var weighted = EntityScores(precision: 0, recall: 0, f1: 0, support: trueAll)
        if trueAll > 0 {
            let w = Double(trueAll)
            func mean(_ value: (EntityScores) -> Double) -> Double {
                rows.map { value($0.scores) * Double($0.scores.support) }.reduce(0, +) / w
            }
            weighted = EntityScores(precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1), support: trueAll)
        }
        return EntityReport(micro: micro, macro: macro, weighted: weighted, types: rows)
    }

    /// The micro-average's counts: entities both sides have, predicted ones, reference ones. They
    /// add up over sentences, so parts of a dataset scored apart give the whole's micro scores.
    public static func counts(references: [[String]], predictions: [[String]]) throws -> (truePositives: Int, predicted: Int, actual: Int) {
        let (truth, guess) = try entitiesByType(references: references, predictions: predictions)
        var counts = (truePositives: 0, predicted: 0, actual: 0)
        for (name, t) in truth { counts.truePositives += t.intersection(guess[name] ?? []).count }
        counts.predicted = guess.values.reduce(0) { $0 + $1.count }
        counts.actual = truth.values.reduce(0) { $0 + $1.count }
        return counts
    }

    /// Each side's entities by type, once the sequences are checked to pair up.
    private static func entitiesByType(
        references: [[String]], predictions: [[String]]
    ) throws -> (truth: [[Unicode.Scalar]: Set<Entity>], guess: [[Unicode.Scalar]: Set<Entity>]) {
        guard !references.isEmpty || !predictions.isEmpty else { throw EntityMetricsError.noSequences }
        guard references.count == predictions.count else {
            throw EntityMetricsError.sequenceCountMismatch(references: references.count, predictions: predictions.count)
        }
        for (s, (r, p)) in zip(references, predictions).enumerated() where r.count != p.count {
            throw EntityMetricsError.lengthMismatch(sequence: s, references: r.count, predictions: p.count)
        }
        // Keyed by code points: Swift's String equality would merge canonically equivalent types that Python keeps apart.
        var truth: [[Unicode.Scalar]: Set<Entity>] = [:]
        var guess: [[Unicode.Scalar]: Set<Entity>] = [:]
        for e in try entities(in: references) { truth[Array(e.type.unicodeScalars), default: []].insert(e) }
        for e in try entities(in: predictions) { guess[Array(e.type.unicodeScalars), default: []].insert(e) }
        return (truth, guess)
    }

    /// Precision, recall and F1 from counts, 0 where a denominator is 0 (seqeval's default).
    static func scores(tp: Int, predicted: Int, actual: Int) -> EntityScores {
        let precision = predicted == 0 ? 0 : Double(tp) / Double(predicted)
        let recall = actual == 0 ? 0 : Double(tp) / Double(actual)
        let denominator = precision + recall
        let f1 = 2 * precision * recall / (denominator == 0 ? 1 : denominator)
        return EntityScores(precision: precision, recall: recall, f1: f1, support: actual)
    }

    /// seqeval's `end_of_chunk`: whether the chunk open at the previous tag ends before this one.
    private static func endsChunk(_ previous: Unicode.Scalar, _ tag: Unicode.Scalar, sameType: Bool) -> Bool {
        if previous == "E" || previous == "S" { return true }
        if (previous == "B" || previous == "I") && (tag == "B" || tag == "S" || tag == "O") { return true }
        // A `.` tag never closes on a type change, as in conlleval.
        return previous != "O" && previous != "." && !sameType
    }

    /// seqeval's `start_of_chunk`: whether a chunk begins at this tag.
    private static func startsChunk(_ previous: Unicode.Scalar, _ tag: Unicode.Scalar, sameType: Bool) -> Bool {
        if tag == "B" || tag == "S" { return true }
        if (previous == "E" || previous == "S" || previous == "O") && (tag == "E" || tag == "I") { return true }
        return tag != "O" && tag != "." && !sameType
    }
}
