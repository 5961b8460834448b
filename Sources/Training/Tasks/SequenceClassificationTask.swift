import Models

/// Labels per text or text pair (sentiment, topics, entailment): records with `text`, optional
/// `text_pair`, and `label` (a name or an index); accuracy and macro-F1.
struct SequenceClassificationTask: TaskKind {
    var head: ModelHead { .sequenceClassification }
    var defaultMetric: String { "accuracy" }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        let text = try record.requiredString("text")
        let label = try labels.index(of: record.requiredString("label"), in: record)
        return Example(text: text, pair: record.string("text_pair"), label: label)
    }

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let encodings = model.tokenizer.encodeBatch(
            examples.map(\.text), pairs: examples.contains { $0.pair != nil } ? examples.map { $0.pair ?? "" } : nil,
            maxLength: model.maxLength, padding: .longest, padId: model.padId, side: model.model.family.paddingSide)
        let batch = TokenBatch(
            ids: encodings.map(\.ids), mask: encodings.map { $0.attentionMask.map { $0 != 0 } },
            tokenTypes: encodings.map(\.typeIds))
        return (batch, examples.map { $0.label ?? 0 })
    }

    /// The loss, "correct" of "labels" predictions, and per class "tp.C", "fp.C", "fn.C".
    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        var predictions: [Int] = [], labels: [Int] = []
        var totals = Evaluation.forEachBatch(model, dataset, batchSize: batchSize, weight: { examples, _, _ in Double(examples.count) }) {
            _, _, targets, logits in
            predictions += logits.map(Evaluation.argmaxRows) ?? []
            labels += targets
        }
        totals["correct"] = Double(zip(predictions, labels).filter { $0 == $1 }.count)
        totals["labels"] = Double(labels.count)
        for (c, counts) in Metrics.classCounts(predictions: predictions, labels: labels, classes: dataset.labels.count).enumerated() {
            (totals["tp.\(c)"], totals["fp.\(c)"], totals["fn.\(c)"]) = (Double(counts.tp), Double(counts.fp), Double(counts.fn))
        }
        return totals
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        var result = Evaluation.Result(examples: dataset.examples.count, loss: totals.meanLoss)
        result.accuracy = totals["labels"] > 0 ? totals["correct"] / totals["labels"] : 0
        result.f1 = Metrics.macroF1(
            counts: dataset.labels.indices.map { (Int(totals["tp.\($0)"]), Int(totals["fp.\($0)"]), Int(totals["fn.\($0)"])) })
        return result
    }
}
