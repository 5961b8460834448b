import TrainingCore

/// Loss and metrics of a model on a dataset, without dropout: accuracy and macro-F1 for
/// classification, perplexity for causal LM (token-weighted).
public enum Evaluation {
    public static func evaluate(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> [String: Double] {
        var totalLoss = 0.0, weight = 0.0
        var predictions: [Int] = [], labels: [Int] = []
        for start in stride(from: 0, to: dataset.examples.count, by: batchSize) {
            let examples = Array(dataset.examples[start..<min(dataset.examples.count, start + batchSize)])
            let (batch, targets) = model.encode(examples)
            let graph = Graph(recording: false, training: false)
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
        var metrics = ["loss": meanLoss]
        if model.task == .classification {
            metrics["accuracy"] = Metrics.accuracy(predictions: predictions, labels: labels)
            metrics["f1"] = Metrics.macroF1(predictions: predictions, labels: labels, classes: dataset.labels.count)
        } else {
            metrics["perplexity"] = Metrics.perplexity(meanLoss: meanLoss)
        }
        return metrics
    }
}
