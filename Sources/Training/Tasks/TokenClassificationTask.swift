import Adapters
import Foundation
import Models
import Tokenizers
import TrainingCore

/// Labels per word (named entities): records with a list of `tokens` (or `words`) and one tag
/// per word in `ner_tags` (or `tags`, `labels`), names like "B-PER" or indices. As transformers'
/// token-classification examples: each word's first sub-token carries its label, the others and
/// the special tokens −100; seqeval's entity-level precision, recall and F1.
struct TokenClassificationTask: TaskKind {
    var head: ModelHead { .tokenClassification }
    var defaultMetric: String { "f1" }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        let wordKey = record.values["tokens"] != nil ? "tokens" : "words"
        let words = try record.strings(wordKey)
        guard let tagKey = ["ner_tags", "tags", "labels"].first(where: { record.values[$0] != nil }) else {
            throw record.problem("needs one tag per word in \"ner_tags\" (or \"tags\", \"labels\")")
        }
        let tags = try record.strings(tagKey)
        guard tags.count == words.count else {
            throw record.problem("has \(words.count) words in \"\(wordKey)\" but \(tags.count) tags in \"\(tagKey)\"")
        }
        guard !words.isEmpty else { throw record.problem("has no words") }
        if let empty = words.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw record.problem("has an empty word at position \(empty)")
        }
        let indices = try tags.map { try labels.index(of: $0, in: record) }
        return Example(text: words.joined(separator: " "), words: words, wordLabels: indices)
    }

    /// The rows of `examples` and, per row, the word each token starts (nil elsewhere).
    static func encodings(_ examples: [Example], for model: TaskModel) -> [Tokenizer.WordEncoding] {
        examples.map { model.tokenizer.encode(words: $0.words ?? [$0.text], maxLength: model.maxLength) }
    }

    /// The token of each word that carries its label: the first of its sub-tokens.
    static func firstTokens(_ encoding: Tokenizer.WordEncoding) -> [Int: Int] {
        var first: [Int: Int] = [:]
        for (position, word) in encoding.wordIds.enumerated() {
            if let word, first[word] == nil { first[word] = position }
        }
        return first
    }

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let encodings = Self.encodings(examples, for: model)
        let targets = zip(examples, encodings).map { example, encoding in
            var row = [Int](repeating: -100, count: encoding.encoding.ids.count)
            for (word, position) in Self.firstTokens(encoding) { row[position] = example.wordLabels?[word] ?? -100 }
            return row
        }
        return (Self.batch(encodings, for: model), TokenBatch.pad(targets, with: -100, side: model.model.family.paddingSide))
    }

    /// The encodings padded into one batch on the model's side.
    static func batch(_ encodings: [Tokenizer.WordEncoding], for model: TaskModel) -> TokenBatch {
        TokenBatch(
            padding: encodings.map(\.encoding.ids), typeIds: encodings.map(\.encoding.typeIds), padId: model.padId,
            side: model.model.family.paddingSide)
    }

    /// The loss, "correct" of "labelled" tokens, and seqeval's entity counts over "sequences":
    /// "entities_tp" of "entities_predicted" and "entities_actual" (entities never span sentences,
    /// so these add up over parts).
    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        var references: [[String]] = [], predictions: [[String]] = []
        var correct = 0, labelled = 0
        let names = dataset.labels
        var totals = Evaluation.forEachBatch(
            model, dataset, batchSize: batchSize,
            weight: { _, _, targets in
                Double(targets.filter { $0 >= 0 }.count)
            }
        ) { examples, batch, targets, logits in
            guard let logits else { return }
            let predicted = Evaluation.argmaxRows(logits)
            for row in examples.indices {
                // transformers' compute_metrics keeps the positions with a label: words cut off
                // by truncation drop out of both sides.
                let positions = (0..<batch.length).map { row * batch.length + $0 }.filter { targets[$0] >= 0 }
                references.append(positions.map { names[targets[$0]] })
                predictions.append(positions.map { names.indices.contains(predicted[$0]) ? names[predicted[$0]] : "O" })
                correct += positions.filter { targets[$0] == predicted[$0] }.count
                labelled += positions.count
            }
        }
        (totals["correct"], totals["labelled"], totals["sequences"]) = (Double(correct), Double(labelled), Double(references.count))
        let counts = try? EntityMetrics.counts(references: references, predictions: predictions)
        totals["entities_tp"] = Double(counts?.truePositives ?? 0)
        totals["entities_predicted"] = Double(counts?.predicted ?? 0)
        totals["entities_actual"] = Double(counts?.actual ?? 0)
        totals["unscorable"] = counts == nil && !references.isEmpty ? 1 : 0
        return totals
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        var result = Evaluation.Result(examples: dataset.examples.count, loss: totals.meanLoss)
        result.accuracy = totals["labelled"] > 0 ? totals["correct"] / totals["labelled"] : 0
        if totals["sequences"] > 0, totals["unscorable"] == 0 {
            let micro = EntityMetrics.scores(
                tp: Int(totals["entities_tp"]), predicted: Int(totals["entities_predicted"]), actual: Int(totals["entities_actual"]))
            (result.precision, result.recall, result.f1) = (micro.precision, micro.recall, micro.f1)
        }
        return result
    }
}

/// An entity found in a text: its type, the text it covers and where (in Unicode scalars, as
/// Python counts string indices), and the mean probability of its words' tags.
public struct TaggedEntity: Codable, Sendable, Equatable {
    public var type: String
    public var text: String
    public var start: Int
    public var end: Int
    public var score: Double

    public enum CodingKeys: String, CodingKey, CaseIterable { case type, text, start, end, score }
}

/// A text and its entities as `tailor classify --task token-classification --json` prints them.
public struct TaggedText: Codable, Sendable, Equatable {
    public var text: String
    public var entities: [TaggedEntity]

    public enum CodingKeys: String, CodingKey, CaseIterable { case text, entities }

    public init(text: String, entities: [TaggedEntity]) {
        self.text = text
        self.entities = entities
    }
}

/// Finds entities in raw text with a token-classification model (and adapters): the text is cut
/// into words at whitespace and punctuation, each word is tagged by its first sub-token, and
/// runs of tags become entities by seqeval's rules, mapped back to character spans.
public final class EntityTagger {
    public let model: TaskModel

    public init(folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)] = [], maxLength: Int = 512) throws {
        var labels = adapters.lazy.compactMap(\.files.labels).first
        if labels == nil { labels = try ConfigReader(path: folder + "/config.json").labels() }
        model = try TaskModel(
            folder: folder, task: .tokenClassification, method: adapters.isEmpty ? .full : .lora, loraConfig: nil,
            labels: labels, maxLength: maxLength, seed: 0, adapters: adapters)
    }

    public func tag(_ text: String) throws -> [TaggedEntity] {
        let words = WordSplitter.split(text)
        guard !words.isEmpty else { return [] }
        let encoding = TokenClassificationTask.encodings([Example(text: text, words: words.map(\.text))], for: model)[0]
        let batch = TokenClassificationTask.batch([encoding], for: model)
        try model.model.checkTokens(batch, file: model.tokenizer.path)
        let logits = model.model.forward(Graph(recording: false), batch)
        let labels = model.model.labels, columns = logits.columns, values = logits.values
        var tags: [String] = [], probabilities: [Double] = []
        for (_, position) in TokenClassificationTask.firstTokens(encoding).sorted(by: { $0.key < $1.key }) {
            let row = values[(position * columns)..<((position + 1) * columns)].map(Double.init)
            let top = row.max() ?? 0
            let total = row.reduce(0) { $0 + exp($1 - top) }
            let best = row.firstIndex(of: top) ?? 0
            tags.append(labels.indices.contains(best) ? labels[best] : "O")
            probabilities.append(1 / total)
        }
        let scalars = Array(text.unicodeScalars)
        return try EntityMetrics.entities(in: [tags]).map { entity in
            let (start, end) = (words[entity.start].range.lowerBound, words[entity.end].range.upperBound)
            let mean = probabilities[entity.start...entity.end].reduce(0, +) / Double(entity.end - entity.start + 1)
            return TaggedEntity(
                type: entity.type, text: String(String.UnicodeScalarView(scalars[start..<end])), start: start, end: end, score: mean)
        }
    }
}
