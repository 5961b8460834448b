import Foundation
import TailorTestSupport
import Testing

@testable import Training

/// The task metrics against fixtures/metrics/goldens.json (seqeval, the SQuAD v1.1 script, rouge_score with and without
/// NLTK's Porter stemmer; written by Scripts/reference/metric_goldens.py), every number to 1e-6 and every stem exactly,
/// plus the contracts the goldens cannot show.
struct MetricGoldenTests {
    struct Scores: Decodable {
        var precision: Double
        var recall: Double
        var f1: Double
        var support: Int
    }

    struct TypeRow: Decodable {
        var type: String
        var precision: Double
        var recall: Double
        var f1: Double
        var support: Int
    }

    struct EntityCase: Decodable {
        var name: String
        var references: [[String]]
        var predictions: [[String]]
        var reference_entities: [[Entry]]
        var prediction_entities: [[Entry]]
        var types: [TypeRow]
        var micro: Scores
        var macro: Scores?
        var weighted: Scores
    }

    /// get_entities' triples mix a string and two integers.
    enum Entry: Decodable, Equatable {
        case text(String)
        case number(Int)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let n = try? container.decode(Int.self) { self = .number(n) } else { self = .text(try container.decode(String.self)) }
        }
    }

    struct SQuADCase: Decodable {
        var prediction: String
        var references: [String]
        var normalized_prediction: String
        var exact_match: Double
        var f1: Double
    }

    struct SQuADGoldens: Decodable {
        var cases: [SQuADCase]
        var aggregate: [String: Double]
    }

    struct PRF: Decodable {
        var precision: Double
        var recall: Double
        var fmeasure: Double
    }

    struct RougeCase: Decodable {
        var reference: String
        var prediction: String
        var reference_tokens: [String]
        var rouge1: PRF
        var rouge2: PRF
        var rougeL: PRF
        var rougeLsum: PRF
    }

    struct RougeGoldens: Decodable {
        var cases: [RougeCase]
        var mean: [String: PRF]
    }

    /// "word stem" lines, as compact as the 150 kB budget for the file needs.
    struct StemmerGoldens: Decodable {
        var mode: String
        var source: String
        var words: [String]
        var direct: [String]
    }

    struct Goldens: Decodable {
        var entities: [EntityCase]
        var squad: SQuADGoldens
        var rouge: RougeGoldens
        var rouge_stemmed: RougeGoldens
        var stemmer: StemmerGoldens
    }

    static let goldens: Goldens = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("metrics/goldens.json")))
        return try! JSONDecoder().decode(Goldens.self, from: data)
    }()

    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 }

    static func matches(_ s: EntityScores, _ g: Scores) -> Bool {
        close(s.precision, g.precision) && close(s.recall, g.recall) && close(s.f1, g.f1) && s.support == g.support
    }

    static func matches(_ s: RougeScore, _ g: PRF) -> Bool {
        close(s.precision, g.precision) && close(s.recall, g.recall) && close(s.fmeasure, g.fmeasure)
    }

    @Test func entityChunksAndReportsMatchSeqeval() throws {
        #expect(Self.goldens.entities.count >= 20)
        for c in Self.goldens.entities {
            for (sequences, expected) in [(c.references, c.reference_entities), (c.predictions, c.prediction_entities)] {
                let found = try EntityMetrics.entities(in: sequences).map { [Entry.text($0.type), .number($0.start), .number($0.end)] }
                #expect(found == expected, "\(c.name)")
            }
            let report = try EntityMetrics.report(references: c.references, predictions: c.predictions)
            #expect(Self.matches(report.micro, c.micro), "\(c.name) micro")
            #expect(Self.matches(report.weighted, c.weighted), "\(c.name) weighted")
            #expect((report.macro == nil) == (c.macro == nil), "\(c.name) macro")
            if let macro = report.macro, let expected = c.macro { #expect(Self.matches(macro, expected), "\(c.name) macro") }
            #expect(report.types.map(\.type) == c.types.map(\.type), "\(c.name) types")
            for (row, g) in zip(report.types, c.types) {
                let expected = Scores(precision: g.precision, recall: g.recall, f1: g.f1, support: g.support)
                #expect(Self.matches(row.scores, expected), "\(c.name) \(g.type)")
            }
        }
    }

    @Test func squadMatchesTheOfficialScript() throws {
        let cases = Self.goldens.squad.cases
        for c in cases {
            #expect(
                SQuADMetrics.normalize(c.prediction).unicodeScalars.elementsEqual(c.normalized_prediction.unicodeScalars), "\(c.prediction)"
            )
            let one = try SQuADMetrics.score(predictions: [c.prediction], references: [c.references])
            #expect(Self.close(one.exactMatch, 100 * c.exact_match), "EM \(c.prediction)")
            #expect(Self.close(one.f1, 100 * c.f1), "F1 \(c.prediction)")
        }
        let all = try SQuADMetrics.score(predictions: cases.map(\.prediction), references: cases.map(\.references))
        #expect(Self.close(all.exactMatch, Self.goldens.squad.aggregate["exact_match"]!))
        #expect(Self.close(all.f1, Self.goldens.squad.aggregate["f1"]!))
    }

    static func checkRouge(_ goldens: RougeGoldens, useStemmer: Bool) throws {
        let cases = goldens.cases
        for c in cases {
            #expect(RougeMetrics.tokenize(c.reference, useStemmer: useStemmer) == c.reference_tokens, "\(c.reference)")
            let s = RougeMetrics.score(reference: c.reference, prediction: c.prediction, useStemmer: useStemmer)
            #expect(Self.matches(s.rouge1, c.rouge1), "rouge1 \(c.reference) | \(c.prediction)")
            #expect(Self.matches(s.rouge2, c.rouge2), "rouge2 \(c.reference) | \(c.prediction)")
            #expect(Self.matches(s.rougeL, c.rougeL), "rougeL \(c.reference) | \(c.prediction)")
            #expect(Self.matches(s.rougeLsum, c.rougeLsum), "rougeLsum \(c.reference) | \(c.prediction)")
        }
        let report = try RougeMetrics.report(
            references: cases.map(\.reference), predictions: cases.map(\.prediction), useStemmer: useStemmer)
        #expect(Self.matches(report.mean.rouge1, goldens.mean["rouge1"]!))
        #expect(Self.matches(report.mean.rouge2, goldens.mean["rouge2"]!))
        #expect(Self.matches(report.mean.rougeL, goldens.mean["rougeL"]!))
        #expect(Self.matches(report.mean.rougeLsum, goldens.mean["rougeLsum"]!))
    }

    @Test func rougeMatchesRougeScore() throws {
        try Self.checkRouge(Self.goldens.rouge, useStemmer: false)
    }

    @Test func stemmedRougeMatchesRougeScore() throws {
        #expect(Self.goldens.rouge_stemmed.cases.count > Self.goldens.rouge.cases.count)
        try Self.checkRouge(Self.goldens.rouge_stemmed, useStemmer: true)
    }

    /// Scalars, not `==`: String equality is canonical equivalence and would accept a precomposed "é" for "e" + U+0301.
    static func checkStems(_ lines: [String]) {
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            #expect(fields.count == 2, "\(line)")
            guard fields.count == 2 else { continue }
            let stem = PorterStemmer.stem(fields[0])
            #expect(stem.unicodeScalars.elementsEqual(fields[1].unicodeScalars), "\(fields[0]): \(stem), NLTK \(fields[1])")
        }
    }

    @Test func porterStemmerMatchesNLTK() {
        let stemmer = Self.goldens.stemmer
        #expect(stemmer.mode == "NLTK_EXTENSIONS")
        #expect(Set(stemmer.words.map { $0.prefix { $0 != " " } }).count >= 3000)
        Self.checkStems(stemmer.words)
        Self.checkStems(stemmer.direct)
    }

    @Test func inputsTheReferencesRejectAreErrors() {
        #expect(throws: EntityMetricsError.noSequences) { try EntityMetrics.report(references: [], predictions: []) }
        #expect(throws: EntityMetricsError.lengthMismatch(sequence: 0, references: 2, predictions: 1)) {
            try EntityMetrics.report(references: [["O", "O"]], predictions: [["O"]])
        }
        #expect(throws: EntityMetricsError.emptyTag(sequence: 0, position: 1)) { try EntityMetrics.entities(in: [["B-PER", ""]]) }
        #expect(throws: SQuADMetricsError.noReferenceAnswers(question: 0)) { try SQuADMetrics.score(predictions: ["x"], references: [[]]) }
        #expect(throws: RougeMetricsError.countMismatch(references: 1, predictions: 2)) {
            try RougeMetrics.report(references: ["a"], predictions: ["a", "b"])
        }
    }

    @Test func directCases() throws {
        #expect(
            try EntityMetrics.entities(in: [["I-PER", "B-LOC", "I-PER"]]) == [
                Entity(type: "PER", start: 0, end: 0), Entity(type: "LOC", start: 1, end: 1), Entity(type: "PER", start: 2, end: 2),
            ])
        #expect(SQuADMetrics.normalize("  The  Eiffel-Tower, an icon! ") == "eiffeltower icon")
        #expect(SQuADMetrics.exactMatch(prediction: "", reference: "the"))
        #expect(SQuADMetrics.f1(prediction: "", reference: "the") == 0)
        #expect(RougeMetrics.tokenize("Don't STOP-me now 42") == ["don", "t", "stop", "me", "now", "42"])
        #expect(RougeMetrics.tokenize("Was RUNNING, ran, runs", useStemmer: true) == ["was", "run", "ran", "run"])
        #expect(PorterStemmer.stem("was") == "wa", "the stemmer shortens 3-letter words; only ROUGE keeps them")
        let stemmed = try RougeMetrics.report(references: ["running"], predictions: ["runs"], useStemmer: true)
        #expect(stemmed.mean.rouge1 == RougeScore(precision: 1, recall: 1, fmeasure: 1))
        #expect(try RougeMetrics.report(references: ["running"], predictions: ["runs"]).mean.rouge1.fmeasure == 0)
        let lsum = RougeMetrics.score(reference: "a b\nc d", prediction: "c d\na b").rougeLsum
        #expect(lsum == RougeScore(precision: 1, recall: 1, fmeasure: 1))
    }

    @Test func resultsEncodeWithSnakeCaseKeys() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let squad = String(decoding: try encoder.encode(SQuADScores(exactMatch: 50, f1: 75)), as: UTF8.self)
        #expect(squad == #"{"exact_match":50,"f1":75}"#)
        let report = try EntityMetrics.report(references: [["O"]], predictions: [["O"]])
        let entities = String(decoding: try encoder.encode(report), as: UTF8.self)
        #expect(!entities.contains("macro"), "a NaN macro average is left out, not encoded")
    }
}
