import Foundation
import Models
import TailorTestSupport
import Testing
import Tokenizers

@testable import Training

/// Reading token-classification and question-answering records: the fields each takes, label
/// order, and one clear error per kind of bad record.
@Suite struct TaskDataTests {
    func load(_ lines: [String], task: Dataset.Task, known: [String]? = nil) throws -> Dataset {
        let folder = TemporaryFolder()
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: folder.file("data.jsonl")))
        return try Dataset.load(folder.file("data.jsonl"), task: task, knownLabels: known)
    }

    func message(_ lines: [String], task: Dataset.Task, known: [String]? = nil) -> String {
        do {
            _ = try load(lines, task: task, known: known)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test func tokenClassificationRecordsGatherSortedTags() throws {
        let dataset = try load(
            [
                #"{"tokens": ["Ada", "met", "Bob", "Smith"], "ner_tags": ["B-PER", "O", "B-PER", "I-PER"]}"#,
                #"{"words": ["in", "Paris"], "tags": ["O", "B-LOC"]}"#,
            ], task: .tokenClassification)
        #expect(dataset.labels == ["B-LOC", "B-PER", "I-PER", "O"])
        #expect(dataset.examples[0].words == ["Ada", "met", "Bob", "Smith"])
        #expect(dataset.examples[0].wordLabels == [1, 3, 1, 2])
        #expect(dataset.examples[1].wordLabels == [3, 0])
        // A model's label order wins, and indices are accepted against it.
        let known = try load([#"{"tokens": ["x", "y"], "ner_tags": [1, "O"]}"#], task: .tokenClassification, known: ["O", "B-PER"])
        #expect(known.examples[0].wordLabels == [1, 0])
    }

    @Test func badTokenClassificationRecordsAreNamed() {
        #expect(message([#"{"tokens": ["a", "b"], "ner_tags": ["O"]}"#], task: .tokenClassification).contains("2 words"))
        #expect(message([#"{"tokens": ["a"]}"#], task: .tokenClassification).contains("\"ner_tags\""))
        #expect(message([#"{"tokens": "a b", "ner_tags": ["O"]}"#], task: .tokenClassification).contains("as a list"))
        #expect(message([#"{"tokens": [], "ner_tags": []}"#], task: .tokenClassification).contains("no words"))
        #expect(message([#"{"tokens": ["a", " "], "ner_tags": ["O", "O"]}"#], task: .tokenClassification).contains("empty word"))
        #expect(
            message([#"{"tokens": ["a"], "ner_tags": ["B-XYZ"]}"#], task: .tokenClassification, known: ["O"])
                .contains("not one of"))
    }

    @Test func questionAnsweringTakesBothAnswerLayouts() throws {
        let dataset = try load(
            [
                #"{"id": "q1", "question": "Who?", "context": "Héllo Ada.", "answers": {"text": ["Ada"], "answer_start": [6]}}"#,
                #"{"question": "Where?", "context": "In Rome", "answers": [{"text": "Rome", "answer_start": 3}]}"#,
            ], task: .questionAnswering)
        #expect(dataset.examples[0].answers == [.init(text: "Ada", start: 6)])
        #expect(dataset.examples[0].id == "q1" && dataset.examples[0].pair == "Héllo Ada.")
        #expect(dataset.examples[1].answers == [.init(text: "Rome", start: 3)])
    }

    @Test func answersThatAreNotInTheContextAreRefused() {
        let wrong = #"{"question": "Q", "context": "In Rome", "answers": {"text": ["Rome"], "answer_start": [2]}}"#
        #expect(message([wrong], task: .questionAnswering).contains("not what the context holds"))
        let outside = #"{"question": "Q", "context": "In Rome", "answers": {"text": ["Rome"], "answer_start": [9]}}"#
        #expect(message([outside], task: .questionAnswering).contains("record 1"))
        let uneven = #"{"question": "Q", "context": "In Rome", "answers": {"text": ["Rome"], "answer_start": []}}"#
        #expect(message([uneven], task: .questionAnswering).contains("1 answer texts but 0"))
        #expect(message([#"{"question": "Q", "context": "C"}"#], task: .questionAnswering).contains("no \"answers\""))
    }

    @Test func wordsKeepTheirCharacterSpans() {
        let words = WordSplitter.split("Héllo, U.S. world!  x")
        #expect(words.map(\.text) == ["Héllo", ",", "U", ".", "S", ".", "world", "!", "x"])
        #expect(words.map(\.range) == [0..<5, 5..<6, 7..<8, 8..<9, 9..<10, 10..<11, 12..<17, 17..<18, 20..<21])
        #expect(WordSplitter.split("   ").isEmpty)
    }
}

/// Question-answering features: windows over a long context share `docStride` tokens, each
/// window marks the answer's tokens only when it holds the whole answer, and the best span over
/// the windows maps back onto the context's characters.
@Suite struct QuestionAnsweringFeatureTests {
    static let context = (0..<30).map { "word\($0) filler text." }.joined(separator: " ") + " The answer is Ada Lovelace here."

    func model(maxLength: Int, stride: Int) throws -> TaskModel {
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-bert"), task: .questionAnswering, method: .full, loraConfig: nil, maxLength: maxLength,
            seed: 0)
        model.docStride = stride
        return model
    }

    var example: Example {
        let start = Self.context.unicodeScalars.count - "Ada Lovelace here.".unicodeScalars.count
        return Example(text: "Who is it?", pair: Self.context, answers: [.init(text: "Ada Lovelace", start: start)])
    }

    @Test func onlyWindowsHoldingTheWholeAnswerMarkIt() throws {
        let model = try model(maxLength: 40, stride: 10)
        let (features, words) = QuestionAnsweringTask.features([example], for: model)
        #expect(features.count > 3)
        for feature in features { #expect(feature.encoding.encoding.ids.count <= 40) }
        let answered = features.filter { $0.start != 0 }
        #expect(answered.count >= 1)
        for feature in answered {
            let wordIds = feature.encoding.wordIds
            let covered = words[0][wordIds[feature.start]!].range.lowerBound..<words[0][wordIds[feature.end]!].range.upperBound
            let text = String(String.UnicodeScalarView(Array(Self.context.unicodeScalars)[covered]))
            #expect(text == "Ada Lovelace")
        }
        #expect(features.first!.start == 0 && features.first!.end == 0)
    }

    @Test func consecutiveWindowsShareStrideTokens() throws {
        let model = try model(maxLength: 40, stride: 10)
        let (features, _) = QuestionAnsweringTask.features([example], for: model)
        let contextIds = features.map { feature in
            feature.encoding.encoding.ids.indices.filter { feature.encoding.sequenceIds[$0] == 1 }.map { feature.encoding.encoding.ids[$0] }
        }
        for (window, next) in zip(contextIds, contextIds.dropFirst()) { #expect(Array(window.suffix(10)) == Array(next.prefix(10))) }
        let (all, _) = model.tokenizer.ids(ofWords: WordSplitter.split(Self.context).map(\.text))
        #expect(contextIds.last!.suffix(5) == all.suffix(5))
    }

    @Test func bestSpanAcrossWindowsMapsBackToTheContext() throws {
        let model = try model(maxLength: 40, stride: 10)
        let (features, words) = QuestionAnsweringTask.features([example], for: model)
        let batch = QuestionAnsweringTask.batch(features, for: model)
        // Logits that point at the answer in the window holding it, and at a longer, weaker span elsewhere.
        var logits = [Float](repeating: 0, count: batch.batch * batch.length * 2)
        let answered = try #require(features.firstIndex { $0.start != 0 })
        logits[(answered * batch.length + features[answered].start) * 2] = 5
        logits[(answered * batch.length + features[answered].end) * 2 + 1] = 5
        let firstContext = try #require(features[0].encoding.sequenceIds.firstIndex(of: 1))
        logits[firstContext * 2] = 4
        logits[(firstContext + 2) * 2 + 1] = 4
        let best = QuestionAnsweringTask.bestAnswers(
            features, logits: logits, length: batch.length, side: .right, examples: [example], words: words)
        #expect(best[0].text == "Ada Lovelace" && best[0].score == 10)
        // A span ending before it starts never wins: the best start then pairs with a later end.
        var backwards = [Float](repeating: 0, count: logits.count)
        backwards[(firstContext + 3) * 2] = 9
        backwards[firstContext * 2 + 1] = 9
        let reversed = QuestionAnsweringTask.bestAnswers(
            features, logits: backwards, length: batch.length, side: .right, examples: [example], words: words, maxAnswerLength: 2)
        let startWord = words[0][features[0].encoding.wordIds[firstContext + 3]!]
        #expect(reversed[0].score == 9 && reversed[0].range.lowerBound == startWord.range.lowerBound)
        #expect(reversed[0].range.upperBound <= words[0][features[0].encoding.wordIds[firstContext + 4]!].range.upperBound)
    }

    /// A long context's windows run a few at a time; the answer does not depend on how many.
    @Test func answersDoNotDependOnWindowsPerPass() throws {
        let finder = try AnswerFinder(folder: FixturePaths.path("models/tiny-bert-qa"), maxLength: 40, docStride: 10)
        let context = Self.context + " " + Self.context
        finder.rowsPerPass = 16
        let together = try finder.answer(question: "Who is it?", context: context)
        finder.rowsPerPass = 1
        let alone = try finder.answer(question: "Who is it?", context: context)
        #expect(together == alone)
        #expect(QuestionAnsweringTask.features([Example(text: "Who is it?", pair: context)], for: finder.model).0.count > 6)
    }

    @Test func targetsListStartsThenEnds() throws {
        let model = try model(maxLength: 40, stride: 10)
        let (batch, targets) = model.encode([example, example])
        #expect(targets.count == 2 * batch.batch)
        let (features, _) = QuestionAnsweringTask.features([example, example], for: model)
        #expect(targets == features.map(\.start) + features.map(\.end))
    }
}
