import Adapters
import Models
import Quantization
import TrainingCore

/// Loss and metrics of a model on a dataset, without dropout: accuracy and macro-F1 for
/// classification, perplexity for causal LM (token-weighted).
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

        public enum CodingKeys: String, CodingKey, CaseIterable { case examples, loss, accuracy, f1, perplexity }

        /// The computed metrics by the names training logs and `--metric-for-best-model` use.
        public var metrics: [String: Double] {
            var metrics = ["loss": loss]
            metrics["accuracy"] = accuracy
            metrics["f1"] = f1
            metrics["perplexity"] = perplexity
            return metrics
        }
    }

    /// The metrics of ``result(of:on:batchSize:)`` by name.
    public static func evaluate(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> [String: Double] {
        result(of: model, on: dataset, batchSize: batchSize).metrics
    }

    public static func result(of model: TaskModel, on dataset: Dataset, batchSize: Int) -> Result {
        var totalLoss = 0.0, weight = 0.0
        var predictions: [Int] = [], labels: [Int] = []
        for start in stride(from: 0, to: dataset.examples.count, by: batchSize) {
            let examples = Array(dataset.examples[start..<min(dataset.examples.count, start + batchSize)])
            let (batch, targets) = model.encode(examples)
            let graph = Graph(recording: false, training: false, computeDType: model.model.computeDType)
            let (loss, logits) = model.loss(graph, batch, targets: targets)
            let count = model.task == .classification ? Double(examples.count) : Double(TaskModel.predictedTokens(targets, batch: batch))
            totalLoss += Double(loss.values[0]) * count
            weight += count
            if let logits {
                let classes = logits.columns, values = logits.values
                for row in 0..<examples.count {
                    let slice = values[(row * classes)..<((row + 1) * classes)]
                    predictions.append(slice.indices.max { slice[$0] < slice[$1] }! - row * classes)
                }
                labels += targets
            }
        }
        let meanLoss = weight > 0 ? totalLoss / weight : 0
        var result = Result(examples: dataset.examples.count, loss: meanLoss)
        if model.task == .classification {
            result.accuracy = Metrics.accuracy(predictions: predictions, labels: labels)
            result.f1 = Metrics.macroF1(predictions: predictions, labels: labels, classes: dataset.labels.count)
        } else {
            result.perplexity = Metrics.perplexity(meanLoss: meanLoss)
        }
        return result
    }
}

extension Evaluation {
    /// Evaluates the model folder `folder`, with the adapter stack `adapters` on top, on the
    /// labelled file `data`. A classifier's label names come from the stack, else the folder's
    /// config, so the data's labels are matched to the head's outputs by name.
    public static func result(
        folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)], data: String,
        task: Dataset.Task, quantize: QuantType?, maxLength: Int, batchSize: Int
    ) throws -> Result {
        var labels = adapters.lazy.compactMap(\.files.labels).first
        if labels == nil, task == .classification { labels = try ConfigReader(path: folder + "/config.json").labels() }
        let dataset = try Dataset.load(data, task: task, knownLabels: task == .classification ? labels : nil)
        let model = try TaskModel(
            folder: folder, task: task, method: adapters.isEmpty ? .full : .lora, loraConfig: nil,
            quantize: quantize, labels: labels, maxLength: maxLength, seed: 0, adapters: adapters)
        try model.checkTokenIds(of: dataset)
        return result(of: model, on: dataset, batchSize: batchSize)
    }
}
