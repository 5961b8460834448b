import Foundation
import Models
import TrainingCore

/// What one task is, apart from the model: how a data record becomes an ``Example``, how
/// examples become model inputs and targets, and how predictions are scored. A task is one file
/// implementing this plus one case of ``Dataset/Task`` naming it.
protocol TaskKind: Sendable {
    /// The model head the task trains (on a family that has it: see ``head(for:)``).
    var head: ModelHead { get }
    /// The head the task trains on a model of `family`, nil when the family has none for it.
    func head(for family: any ModelFamily) -> ModelHead?
    /// The metric training tracks when none is asked for.
    var defaultMetric: String { get }
    /// Reads one record; label names go through `labels`.
    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example
    /// Model inputs and targets for `examples` (a task may make several rows of one example).
    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int])
    /// How many terms the loss of this batch averages (examples, labelled or predicted tokens,
    /// windows): data-parallel ranks weight their losses and gradients by it.
    func lossTerms(_ batch: TokenBatch, targets: [Int], for model: TaskModel) -> Int
    /// The totals of loss and scores over `dataset` (a part of one), without dropout.
    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals
    /// The loss and metrics of `dataset` from the totals of all its parts.
    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result
    /// Refuses a dataset the model cannot encode (before training or evaluation starts).
    func check(_ dataset: Dataset, for model: TaskModel) throws
}

extension TaskKind {
    var defaultMetric: String { "loss" }
    func head(for family: any ModelFamily) -> ModelHead? { family.heads.contains(head) ? head : nil }
    func check(_ dataset: Dataset, for model: TaskModel) throws {}
    /// The count the model's loss for its head averages over (``TransformerModel/lossTermCount(_:targets:)``).
    func lossTerms(_ batch: TokenBatch, targets: [Int], for model: TaskModel) -> Int {
        model.model.lossTermCount(batch, targets: targets)
    }
}

/// One record of a data file: a JSONL object (strings, numbers, lists, objects) or a CSV row
/// (every field text). Accessors name the record when a field is missing or of the wrong kind.
public struct DataRecord {
    public let values: [String: Any]
    /// 1-based: the JSONL line or the CSV record.
    public let number: Int
    public let file: String

    /// A text or number field; nil when absent or null.
    public func string(_ key: String) -> String? {
        switch values[key] {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }

    public func requiredString(_ key: String) throws -> String {
        guard let value = string(key) else { throw problem("has no \"\(key)\"") }
        return value
    }

    /// A list of texts or numbers (a CSV field holding a JSON list is read as one).
    public func strings(_ key: String) throws -> [String] {
        var value = values[key]
        if let text = value as? String, let data = text.data(using: .utf8), let list = try? JSONSerialization.jsonObject(with: data) {
            value = list
        }
        guard let list = value as? [Any] else { throw problem("needs \"\(key)\" as a list") }
        return try list.enumerated().map { index, item in
            switch item {
            case let text as String: return text
            case let number as NSNumber: return number.stringValue
            default: throw problem("\"\(key)\"[\(index)] is neither text nor a number")
            }
        }
    }

    public func object(_ key: String) throws -> DataRecord {
        guard let object = values[key] as? [String: Any] else { throw problem("needs \"\(key)\" as an object") }
        return DataRecord(values: object, number: number, file: file)
    }

    public func problem(_ message: String) -> TrainingError { TrainingError(file: file, "record \(number) \(message)") }
}

/// Label names as a dataset meets them: in a fixed order when the model or a training set
/// already has them, else gathered and sorted at the end (numeric names in numeric order).
public struct LabelNames {
    public private(set) var names: [String]
    public let fixed: Bool

    public init(known: [String]?) {
        names = known ?? []
        fixed = known != nil
    }

    /// The index of `text`; a fixed set also takes an index written as a number.
    public mutating func index(of text: String, in record: DataRecord) throws -> Int {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw record.problem("has an empty label") }
        if let existing = names.firstIndex(of: text) { return existing }
        if fixed {
            if let number = Int(text), names.indices.contains(number) { return number }
            throw record.problem("has label \"\(text)\", which is not one of \(names)")
        }
        names.append(text)
        return names.count - 1
    }

    /// The sorted order and, for each gathered index, its index in it (identity when fixed).
    func sorted() -> (names: [String], remap: [Int]) {
        guard !fixed else { return (names, Array(names.indices)) }
        let sorted = names.sorted { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }
        return (sorted, names.map { sorted.firstIndex(of: $0)! })
    }
}

extension Evaluation {
    /// Runs `encode`d batches of `dataset` through the model without dropout, handing each
    /// batch's examples, targets and the head's outputs to `body`; returns each batch's loss
    /// times its `weight` (examples, or predicted tokens) summed, and the weights summed, as the
    /// totals "loss" and "loss_weight".
    static func forEachBatch(
        _ model: TaskModel, _ dataset: Dataset, batchSize: Int, encode: (([Example]) -> (TokenBatch, targets: [Int]))? = nil,
        weight: ([Example], TokenBatch, [Int]) -> Double, _ body: ([Example], TokenBatch, [Int], Tensor?) -> Void = { _, _, _, _ in }
    ) -> Totals {
        var totalLoss = 0.0, totalWeight = 0.0
        for start in stride(from: 0, to: dataset.examples.count, by: batchSize) {
            let examples = Array(dataset.examples[start..<min(dataset.examples.count, start + batchSize)])
            let (batch, targets) = encode?(examples) ?? model.encode(examples)
            let graph = Graph(recording: false, training: false, computeDType: model.model.computeDType)
            let (loss, logits) = model.loss(graph, batch, targets: targets)
            let count = weight(examples, batch, targets)
            totalLoss += Double(loss.values[0]) * count
            totalWeight += count
            body(examples, batch, targets, logits)
        }
        var totals = Totals()
        (totals["loss"], totals["loss_weight"]) = (totalLoss, totalWeight)
        return totals
    }

    /// The index of each row's largest value in `[rows, columns]` logits.
    static func argmaxRows(_ logits: Tensor) -> [Int] {
        let classes = logits.columns, values = logits.values
        return (0..<logits.rows).map { row in
            let slice = values[(row * classes)..<((row + 1) * classes)]
            return slice.indices.max { slice[$0] < slice[$1] }! - row * classes
        }
    }
}
