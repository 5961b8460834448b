import Adapters
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

    /// The metrics of ``result(of:on:batchSize:)`` by name.
    public static func evaluate(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> [String: Double] {
        result(of: model, on: dataset, batchSize: batchSize).metrics
    }

    public static func result(of model: TaskModel, on dataset: Dataset, batchSize: Int) -> Result {
        model.task.kind.evaluate(model, on: dataset, batchSize: batchSize)
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
