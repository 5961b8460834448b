import Adapters
import Collectives
import Models
import Quantization
import TrainingCore

/// Loss and metrics of a model on a dataset, without dropout, as its task scores it: accuracy
/// and macro-F1 (classification), perplexity (causal LM, token-weighted), seqeval's entity
/// precision/recall/F1 (token classification), SQuAD's exact match and F1 (question answering).
public enum Evaluation {
    /// One evaluation; `tailor eval --json` prints it. The metrics a task does not compute are nil
    /// and have no key, so a line's keys say which task it was.
    public struct Result: Codable, Sendable, Equatable {
        public var examples: Int
        /// Mean loss per example (classification) or per predicted token (causal LM).
        public var loss: Double
        public var accuracy: Double?
        /// Macro-F1 over the dataset's labels.
        public var f1: Double?
        public var perplexity: Double?
        /// Token classification: entity-level (seqeval) micro precision and recall; `f1` is theirs.
        public var precision: Double?
        public var recall: Double?
        /// Question answering: SQuAD's exact match in percent; `f1` is SQuAD's token F1 in percent.
        public var exactMatch: Double?
        /// Summarization: rouge_score's mean F-measures of greedily generated summaries.
        public var rouge1, rouge2, rougeL, rougeLsum: Double?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case examples, loss, accuracy, f1, perplexity, precision, recall, rouge1, rouge2, rougeL, rougeLsum
            case exactMatch = "exact_match"
        }

        /// The computed metrics by the names training logs and `--metric-for-best-model` use.
        public var metrics: [String: Double] {
            var metrics = ["loss": loss]
            metrics["accuracy"] = accuracy
            metrics["f1"] = f1
            metrics["perplexity"] = perplexity
            metrics["precision"] = precision
            metrics["recall"] = recall
            metrics["exact_match"] = exactMatch
            metrics["rouge1"] = rouge1
            metrics["rouge2"] = rouge2
            metrics["rougeL"] = rougeL
            metrics["rougeLsum"] = rougeLsum
            return metrics
        }
    }

    /// The metrics of ``result(of:on:batchSize:communicator:)`` by name.
    public static func evaluate(
        _ model: TaskModel, on dataset: Dataset, batchSize: Int, communicator: any Communicator = SingleProcess()
    ) -> [String: Double] {
        result(of: model, on: dataset, batchSize: batchSize, communicator: communicator).metrics
    }

    /// The task's loss and metrics over `dataset`. With several ranks, each evaluates its
    /// contiguous share of the examples (`batchSize` split between them) and the ranks add up
    /// their ``Totals``: every rank returns the same result, that of the whole dataset.
    public static func result(
        of model: TaskModel, on dataset: Dataset, batchSize: Int, communicator: any Communicator = SingleProcess()
    ) -> Result {
        var part = dataset
        if communicator.size > 1 { part.examples = Array(dataset.examples[communicator.share(of: dataset.examples.indices)]) }
        let rankBatch = max(1, (batchSize + communicator.size - 1) / communicator.size)
        var totals = model.task.kind.evaluationTotals(model, on: part, batchSize: rankBatch)
        totals.addUp(over: communicator)
        return model.task.kind.result(from: totals, of: dataset)
    }

    /// What a task's metrics are computed from, as sums over examples: the loss times its weight
    /// and the weight, counts (correct predictions, entities found), per-example scores (F1,
    /// ROUGE). The totals of disjoint parts of a dataset add up to those of the whole, which is
    /// how data-parallel ranks evaluate a share each. Every rank must hold the same names.
    public struct Totals: Sendable, Equatable {
        public var values: [String: Double] = [:]

        public init() {}

        /// A total by name; 0 when none was added.
        public subscript(_ name: String) -> Double {
            get { values[name] ?? 0 }
            set { values[name] = newValue }
        }

        /// The loss averaged over its weights (0 without any).
        public var meanLoss: Double { self["loss_weight"] > 0 ? self["loss"] / self["loss_weight"] : 0 }

        /// Sums every total over the ranks (in name order), so every rank holds those of all.
        public mutating func addUp(over communicator: any Communicator) {
            guard communicator.size > 1 else { return }
            let names = values.keys.sorted()
            var sums = names.map { values[$0]! }
            communicator.allReduceSum(&sums)
            for (name, sum) in zip(names, sums) { values[name] = sum }
        }
    }
}

extension Evaluation {
    /// Evaluates the model folder `folder`, with the adapter stack `adapters` on top, on the
    /// labelled file `data`. A classifier's label names come from the stack, else the folder's
    /// config, so the data's labels are matched to the head's outputs by name.
    public static func result(
        folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)], data: String,
        task: Dataset.Task, quantize: QuantType?, maxLength: Int, docStride: Int? = nil, batchSize: Int,
        useStemmer: Bool = false
    ) throws -> Result {
        var labels = adapters.lazy.compactMap(\.files.labels).first
        if labels == nil, task.hasLabels { labels = try ConfigReader(path: folder + "/config.json").labels() }
        let dataset = try Dataset.load(data, task: task, knownLabels: task.hasLabels ? labels : nil)
        let model = try TaskModel(
            folder: folder, task: task, method: adapters.isEmpty ? .full : .lora, loraConfig: nil,
            quantize: quantize, labels: labels, maxLength: maxLength, seed: 0, adapters: adapters)
        model.docStride = docStride
        model.rougeUsesStemmer = useStemmer
        try model.checkTokenIds(of: dataset)
        return result(of: model, on: dataset, batchSize: batchSize)
    }
}
