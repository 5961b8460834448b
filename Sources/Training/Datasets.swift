import Diagnostics
import Foundation
import Models

/// One example of any task: a text (a question, a completion), an optional second text (a
/// pair, a question's context), and what the task learns from it.
public struct Example: Sendable, Equatable {
    public var text: String
    public var pair: String?
    /// Sequence classification: the label's index.
    public var label: Int?
    /// Causal LM: the prompt the completion `text` follows (no loss on it).
    public var prompt: String?
    /// Token classification: the words and each word's label index.
    public var words: [String]?
    public var wordLabels: [Int]?
    /// Question answering: the record's id and the reference answers in the context (`pair`).
    public var id: String?
    public var answers: [Answer]?
    /// Summarization: the target text (the source is `text`).
    public var target: String?
    /// Instruction tuning: the conversation (`role`, `content` per message).
    public var messages: [[String: String]]?

    /// An answer's text and where it starts in the context, in Unicode scalars (SQuAD's `answer_start`).
    public struct Answer: Sendable, Equatable {
        public var text: String
        public var start: Int
    }
}

/// A loaded dataset and, for tasks with labels, their names in index order.
public struct Dataset: Sendable {
    public var examples: [Example]
    public var labels: [String]
    public var path: String

    /// The tasks ``TaskModel`` trains: each names its ``TaskKind`` in ``kind``.
    public enum Task: String, Sendable, CaseIterable {
        case classification, causalLM = "causal-lm", tokenClassification = "token-classification"
        case questionAnswering = "question-answering", instructionTuning = "instruction-tuning", summarization

        var kind: any TaskKind {
            switch self {
            case .classification: SequenceClassificationTask()
            case .causalLM: CausalLMTask()
            case .tokenClassification: TokenClassificationTask()
            case .questionAnswering: QuestionAnsweringTask()
            case .instructionTuning: InstructionTuningTask()
            case .summarization: SummarizationTask()
            }
        }

        /// The model head the task trains.
        public var head: ModelHead { kind.head }
        /// Whether examples carry label names (the model's id2label).
        public var hasLabels: Bool { head.hasLabels }
        /// The metric training tracks when none is asked for.
        public var defaultMetric: String { kind.defaultMetric }

        public init?(head: ModelHead) {
            guard let task = Self.allCases.first(where: { $0.head == head }) else { return nil }
            self = task
        }
    }

    /// Reads CSV (a header row naming the fields) or JSONL (one object per line) with the fields
    /// `task` reads. Label names may be names or indices; `knownLabels` fixes their order (from a
    /// training set or a model's id2label).
    public static func load(_ path: String, task: Task, knownLabels: [String]? = nil) throws -> Dataset {
        let records: [DataRecord]
        if path.lowercased().hasSuffix(".csv") {
            let rows = try CSVRows.parse(TextFile.text(path, for: TrainingModule.self), file: path)
            records = rows.enumerated().map { index, row in
                DataRecord(values: row.compactMapValues { $0 }, number: index + 1, file: path)
            }
        } else {
            records = try jsonlRecords(TextFile.lines(path, for: TrainingModule.self), file: path)
        }
        guard !records.isEmpty else { throw TrainingError(file: path, "no examples") }
        let kind = task.kind
        var labels = LabelNames(known: task.hasLabels ? knownLabels : nil)
        var examples = try records.map { try kind.example(from: $0, labels: &labels) }
        let (names, remap) = labels.sorted()
        for i in examples.indices {
            examples[i].label = examples[i].label.map { remap[$0] }
            examples[i].wordLabels = examples[i].wordLabels?.map { remap[$0] }
        }
        return Dataset(examples: examples, labels: names, path: path)
    }

    static func jsonlRecords(_ lines: [(number: Int, text: String)], file: String) throws -> [DataRecord] {
        var records: [DataRecord] = []
        for (number, line) in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw TrainingError(file: file, "line \(number) is not a JSON object")
            }
            records.append(DataRecord(values: object, number: number, file: file))
        }
        return records
    }

    /// Splits off a seeded random `fraction` as validation data. Also returns how many
    /// validation texts occur in the training part too (a leak worth a warning).
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset, overlap: Int) {
        var order = Array(examples.indices)
        var rng = SplitMixGenerator(seed: seed)
        order.shuffle(using: &rng)
        let count = max(1, Int((Double(examples.count) * fraction).rounded()))
        let validation = order.prefix(count).sorted().map { examples[$0] }
        let train = order.dropFirst(count).sorted().map { examples[$0] }
        let trainTexts = Set(train.map { $0.text + "\u{0}" + ($0.pair ?? "") })
        let overlap = validation.filter { trainTexts.contains($0.text + "\u{0}" + ($0.pair ?? "")) }.count
        return (
            Dataset(examples: train, labels: labels, path: path),
            Dataset(examples: validation, labels: labels, path: path + " (validation)"), overlap
        )
    }
}

/// A tiny seeded generator for shuffles (the training core's RNG lives in TrainingCore).
struct SplitMixGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// RFC 4180 CSV with a header row: quoted fields, doubled quotes, newlines inside quotes.
enum CSVRows {
    static func parse(_ text: String, file: String) throws -> [[String: String?]] {
        var records: [[String]] = []
        var field = ""
        var record: [String] = []
        var quoted = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending {
                pending = nil
                return p
            }
            return iterator.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let following = next() {
                        if following == "\"" {
                            field.unicodeScalars.append("\"")
                        } else {
                            quoted = false
                            pending = following
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",":
                record.append(field)
                field = ""
            case "\n":
                record.append(field)
                field = ""
                if record != [""] { records.append(record) }
                record = []
            case "\r": continue
            default: field.unicodeScalars.append(c)
            }
        }
        if quoted { throw TrainingError(file: file, "unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        guard let header = records.first else { return [] }
        if let repeated = header.enumerated().first(where: { header[..<$0.offset].contains($0.element) })?.element {
            throw TrainingError(file: file, "the header names the column \"\(repeated)\" twice")
        }
        return try records.dropFirst().enumerated().map { index, values in
            guard values.count == header.count else {
                throw TrainingError(file: file, "row \(index + 2) has \(values.count) fields, the header \(header.count)")
            }
            return Dictionary(uniqueKeysWithValues: zip(header, values.map { Optional($0) }))
        }
    }
}

/// A problem with training data, options or a run, naming the file.
public typealias TrainingError = FileProblem<TrainingModule>

/// Marks the Training module's errors (``TrainingError``).
public enum TrainingModule {}
