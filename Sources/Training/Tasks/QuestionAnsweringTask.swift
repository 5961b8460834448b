import Adapters
import Foundation
import Models
import Tokenizers
import TrainingCore

/// Extractive question answering in SQuAD's format: records with `question`, `context` and
/// `answers` (`{"text": [...], "answer_start": [...]}` as Hugging Face datasets store it, or a
/// list of `{"text", "answer_start"}`). A long context is read in overlapping windows
/// (``TaskModel/docStride`` tokens shared by neighbours); the model marks the answer's first and
/// last token; SQuAD v1.1's exact match and F1 (in percent) score the best span over the windows.
struct QuestionAnsweringTask: TaskKind {
    var head: ModelHead { .questionAnswering }
    var defaultMetric: String { "f1" }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        let question = try record.requiredString("question"), context = try record.requiredString("context")
        var answers: [Example.Answer] = []
        if let list = record.values["answers"] as? [[String: Any]] {
            for (index, item) in list.enumerated() {
                let entry = DataRecord(values: item, number: record.number, file: record.file)
                guard let start = entry.string("answer_start").flatMap(Int.init) else {
                    throw record.problem("answers[\(index)] needs \"answer_start\" as a number")
                }
                answers.append(.init(text: try entry.requiredString("text"), start: start))
            }
        } else if record.values["answers"] != nil {
            let object = try record.object("answers")
            let texts = try object.strings("text"), starts = try object.strings("answer_start")
            guard texts.count == starts.count else {
                throw record.problem("has \(texts.count) answer texts but \(starts.count) answer_start values")
            }
            for (text, start) in zip(texts, starts) {
                guard let offset = Int(start) else { throw record.problem("has answer_start \"\(start)\", not a number") }
                answers.append(.init(text: text, start: offset))
            }
        } else {
            throw record.problem("has no \"answers\"")
        }
        let length = context.unicodeScalars.count
        for answer in answers {
            let end = answer.start + answer.text.unicodeScalars.count
            guard answer.start >= 0, end <= length,
                String(String.UnicodeScalarView(Array(context.unicodeScalars)[answer.start..<end])) == answer.text
            else {
                throw record.problem("has answer \"\(answer.text)\" at \(answer.start), which is not what the context holds there")
            }
        }
        return Example(text: question, pair: context, id: record.string("id"), answers: answers)
    }

    /// One window of one example's context after its question.
    struct Feature {
        var example: Int
        var encoding: Tokenizer.WordEncoding
        /// The answer's first and last token (0, the first special token, when the window lacks it).
        var start = 0, end = 0
    }

    /// The windows of `examples` (and the context's words, per example, for mapping tokens back).
    static func features(_ examples: [Example], for model: TaskModel) -> ([Feature], words: [[WordSplitter.Word]]) {
        let tokenizer = model.tokenizer
        var features: [Feature] = [], allWords: [[WordSplitter.Word]] = []
        let special = tokenizer.specialTokenCount(pair: true)
        for (index, example) in examples.enumerated() {
            let words = WordSplitter.split(example.pair ?? "")
            allWords.append(words)
            // A question longer than half the window is cut (transformers would refuse to run).
            let question = Array(tokenizer.encode(example.text, addSpecialTokens: false).ids.prefix(max(1, model.maxLength / 2)))
            let (context, wordIds) = tokenizer.ids(ofWords: words.map(\.text))
            let room = max(1, model.maxLength - question.count - special)
            let step = max(1, room - min(model.docStride ?? model.maxLength / 4, room - 1))
            var start = 0
            repeat {
                let end = min(context.count, start + room)
                var feature = Feature(
                    example: index,
                    encoding: tokenizer.combine(
                        question, wordIds: question.map { _ in 0 }, Array(context[start..<end]), wordIds: Array(wordIds[start..<end])))
                if let answer = example.answers?.first {
                    (feature.start, feature.end) = span(of: answer, words: words, in: feature.encoding)
                }
                features.append(feature)
                if end >= context.count { break }
                start += step
            } while true
        }
        return (features, allWords)
    }

    /// The tokens of the words the answer covers in this window, or (0, 0) when it does not lie
    /// wholly inside it (transformers' run_qa points such windows at the first token).
    static func span(of answer: Example.Answer, words: [WordSplitter.Word], in encoding: Tokenizer.WordEncoding) -> (Int, Int) {
        let answerEnd = answer.start + answer.text.unicodeScalars.count
        guard let first = words.firstIndex(where: { $0.range.upperBound > answer.start }),
            let last = words.lastIndex(where: { $0.range.lowerBound < answerEnd }), first <= last
        else { return (0, 0) }
        let context = encoding.encoding.ids.indices.filter { encoding.sequenceIds[$0] == 1 }
        guard let startToken = context.first(where: { encoding.wordIds[$0] == first }),
            let endToken = context.last(where: { encoding.wordIds[$0] == last })
        else { return (0, 0) }
        return (startToken, endToken)
    }

    static func batch(_ features: [Feature], for model: TaskModel) -> TokenBatch {
        TokenBatch(
            padding: features.map(\.encoding.encoding.ids), typeIds: features.map(\.encoding.encoding.typeIds), padId: model.padId,
            side: model.model.family.paddingSide)
    }

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let (features, _) = Self.features(examples, for: model)
        return (Self.batch(features, for: model), Self.targets(features))
    }

    /// Every window's start token, then every window's end token (the span loss's layout).
    static func targets(_ features: [Feature]) -> [Int] { features.map(\.start) + features.map(\.end) }

    /// transformers' `postprocess_qa_predictions`: over every window of an example, the
    /// `nBest` highest start and end logits form candidate spans inside the context, at most
    /// `maxAnswerLength` tokens long; the best sum of logits wins. Returns the answer text, its
    /// character range in the context and its score (empty when no span qualifies).
    static func bestAnswers(
        _ features: [Feature], logits: [Float], length: Int, side: PaddingSide, examples: [Example],
        words: [[WordSplitter.Word]], nBest: Int = 20, maxAnswerLength: Int = 30
    ) -> [(text: String, range: Range<Int>, score: Float)] {
        var best = [(text: String, range: Range<Int>, score: Float)?](repeating: nil, count: examples.count)
        for (row, feature) in features.enumerated() {
            let count = feature.encoding.encoding.ids.count
            // Padding sits at the end of right-padded rows, or at the start of left-padded ones.
            let offset = side == .left ? length - count : 0
            let starts = (0..<count).map { logits[(row * length + offset + $0) * 2] }
            let ends = (0..<count).map { logits[(row * length + offset + $0) * 2 + 1] }
            let topStarts = starts.indices.sorted { starts[$0] > starts[$1] }.prefix(nBest)
            let topEnds = ends.indices.sorted { ends[$0] > ends[$1] }.prefix(nBest)
            let wordIds = feature.encoding.wordIds, sequences = feature.encoding.sequenceIds
            for s in topStarts where sequences[s] == 1 {
                for e in topEnds where sequences[e] == 1 && e >= s && e - s + 1 <= maxAnswerLength {
                    let score = starts[s] + ends[e]
                    if let current = best[feature.example], current.score >= score { continue }
                    let contextWords = words[feature.example]
                    let range = contextWords[wordIds[s]!].range.lowerBound..<contextWords[wordIds[e]!].range.upperBound
                    let scalars = Array((examples[feature.example].pair ?? "").unicodeScalars)[range]
                    best[feature.example] = (String(String.UnicodeScalarView(scalars)), range, score)
                }
            }
        }
        return best.map { $0 ?? ("", 0..<0, 0) }
    }

    /// The loss, and SQuAD's per-question "exact" (0 or 1) and best "f1" (0…1) summed over
    /// "questions"; "unanswerable" counts questions without a reference answer (SQuAD refuses those).
    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        var predictions: [String] = []
        // The windows are made once per batch: the loss's encoding and the answers' mapping share them.
        var windows: (features: [Feature], words: [[WordSplitter.Word]]) = ([], [])
        let encode = { (examples: [Example]) -> (TokenBatch, targets: [Int]) in
            windows = Self.features(examples, for: model)
            return (Self.batch(windows.features, for: model), Self.targets(windows.features))
        }
        var totals = Evaluation.forEachBatch(
            model, dataset, batchSize: batchSize, encode: encode, weight: { _, batch, _ in Double(batch.batch) }
        ) {
            examples, batch, _, logits in
            guard let logits else { return }
            predictions += Self.bestAnswers(
                windows.features, logits: logits.values, length: batch.length, side: model.model.family.paddingSide, examples: examples,
                words: windows.words
            ).map(\.text)
        }
        let references = dataset.examples.map { ($0.answers ?? []).map(\.text) }
        (totals["questions"], totals["exact"], totals["f1"], totals["unanswerable"]) = (0, 0, 0, 0)
        for (prediction, answers) in zip(predictions, references) {
            totals["questions"] += 1
            guard !answers.isEmpty else {
                totals["unanswerable"] += 1
                continue
            }
            totals["exact"] += answers.contains { SQuADMetrics.exactMatch(prediction: prediction, reference: $0) } ? 1 : 0
            totals["f1"] += answers.map { SQuADMetrics.f1(prediction: prediction, reference: $0) }.max()!
        }
        return totals
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        var result = Evaluation.Result(examples: dataset.examples.count, loss: totals.meanLoss)
        if totals["questions"] > 0, totals["unanswerable"] == 0 {
            (result.exactMatch, result.f1) = (100 * totals["exact"] / totals["questions"], 100 * totals["f1"] / totals["questions"])
        }
        return result
    }
}

/// Answers questions from a context with a question-answering model (and adapters), the span
/// chosen as evaluation chooses it.
public final class AnswerFinder {
    public let model: TaskModel
    /// Windows per forward pass.
    public var rowsPerPass = 16

    public struct Answer: Codable, Sendable, Equatable {
        public var answer: String
        /// The answer's characters in the context (Unicode scalars, as Python counts).
        public var start: Int
        public var end: Int
        /// The sum of the start and end logits.
        public var score: Float
    }

    public init(
        folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)] = [], maxLength: Int = 384,
        docStride: Int = 128
    ) throws {
        model = try TaskModel(
            folder: folder, task: .questionAnswering, method: adapters.isEmpty ? .full : .lora, loraConfig: nil,
            maxLength: maxLength, seed: 0, adapters: adapters)
        model.docStride = docStride
    }

    public func answer(question: String, context: String) throws -> Answer {
        let example = Example(text: question, pair: context)
        let (features, words) = QuestionAnsweringTask.features([example], for: model)
        let batch = QuestionAnsweringTask.batch(features, for: model)
        try model.model.checkTokens(batch, file: model.tokenizer.path)
        // A long context has many windows: a few at a time keeps memory bounded.
        var logits: [Float] = []
        for start in stride(from: 0, to: batch.batch, by: rowsPerPass) {
            let rows = start..<min(batch.batch, start + rowsPerPass)
            var part = batch
            part.batch = rows.count
            let span = (rows.lowerBound * batch.length)..<(rows.upperBound * batch.length)
            (part.ids, part.mask, part.tokenTypes) = (Array(batch.ids[span]), Array(batch.mask[span]), Array(batch.tokenTypes[span]))
            logits += model.model.forward(Graph(recording: false), part).values
        }
        let best = QuestionAnsweringTask.bestAnswers(
            features, logits: logits, length: batch.length, side: model.model.family.paddingSide, examples: [example],
            words: words)[0]
        return Answer(answer: best.text, start: best.range.lowerBound, end: best.range.upperBound, score: best.score)
    }
}
