import Models

/// Language modelling on `text`, or on a `completion` after a `prompt` (the loss on the
/// completion only); every example ends with the model's end-of-sequence token. Perplexity.
struct CausalLMTask: TaskKind {
    var head: ModelHead { .causalLM }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        if let prompt = record.string("prompt"), let completion = record.string("completion") {
            return Example(text: completion, prompt: prompt)
        }
        guard let text = record.string("text") else { throw record.problem("needs \"text\", or \"prompt\" and \"completion\"") }
        return Example(text: text)
    }

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let tokenizer = model.tokenizer
        var rows: [[Int]] = [], labels: [[Int]] = []
        let eos = model.model.eosTokenIds.first.map { [$0] } ?? []
        for example in examples {
            var ids: [Int], target: [Int]
            if let prompt = example.prompt {
                let promptIds = tokenizer.encode(prompt).ids
                let completion = tokenizer.encode(example.text, addSpecialTokens: false).ids + eos
                ids = promptIds + completion
                target = [Int](repeating: -100, count: promptIds.count) + completion
            } else {
                ids = tokenizer.encode(example.text).ids + eos
                target = ids
            }
            rows.append(Array(ids.prefix(model.maxLength)))
            labels.append(Array(target.prefix(model.maxLength)))
        }
        return Self.batch(rows: rows, labels: labels, for: model)
    }

    /// Token rows and their per-token labels padded on the model's side.
    static func batch(rows: [[Int]], labels: [[Int]], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let side = model.model.family.paddingSide
        return (TokenBatch(padding: rows, padId: model.padId, side: side), TokenBatch.pad(labels, with: -100, side: side))
    }

    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        Evaluation.forEachBatch(model, dataset, batchSize: batchSize) { _, batch, targets in
            Double(TaskModel.predictedTokens(targets, batch: batch))
        }
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        var result = Evaluation.Result(examples: dataset.examples.count, loss: totals.meanLoss)
        result.perplexity = Metrics.perplexity(meanLoss: totals.meanLoss)
        return result
    }
}
