import Inference
import Models

/// Summarization (any text-to-text task): records with `text` and `summary` (or `source` and
/// `target`). An encoder-decoder (T5) reads "summarize: " + text and learns the summary; a causal
/// LM learns it as the completion of a prompt holding the text, the loss on the summary only.
/// Evaluation generates summaries greedily and scores them with ROUGE-1/2/L/Lsum (rouge_score's
/// F-measures, without stemming unless ``TaskModel/rougeUsesStemmer``).
struct SummarizationTask: TaskKind {
    var head: ModelHead { .seq2seqLM }
    var defaultMetric: String { "rougeL" }

    func head(for family: any ModelFamily) -> ModelHead? {
        family.heads.contains(.seq2seqLM) ? .seq2seqLM : family.heads.contains(.causalLM) ? .causalLM : nil
    }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        let (sourceKey, targetKey) = record.values["source"] != nil ? ("source", "target") : ("text", "summary")
        return Example(text: try record.requiredString(sourceKey), target: try record.requiredString(targetKey))
    }

    /// What the model reads: T5's task prefix, or a causal LM's prompt around the text.
    static func prompt(_ text: String, for model: TaskModel) -> String {
        model.model.head == .seq2seqLM ? "summarize: " + text : "Summarize the text.\n\n" + text + promptEnd
    }

    static let promptEnd = "\n\nSummary:"

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        guard model.model.head == .seq2seqLM else { return causalBatch(examples, for: model) }
        let tokenizer = model.tokenizer
        let sources = examples.map { tokenizer.encode(Self.prompt($0.text, for: model), maxLength: model.maxLength).ids }
        let targets = examples.map { tokenizer.encode($0.target ?? "", maxLength: model.maxTargetLength).ids }
        // transformers' shift_tokens_right: the decoder reads the start token, then the target but its last token.
        let start = model.model.decoderStartTokenId ?? model.padId
        let decoder = targets.map { [start] + $0.dropLast() }
        var batch = TokenBatch(padding: sources, padId: model.padId)
        batch.decoderIds = TokenBatch.pad(decoder, with: model.padId)
        batch.decoderLength = decoder.map(\.count).max() ?? 0
        return (batch, TokenBatch.pad(targets, with: -100))
    }

    /// A causal LM's rows: prompt, summary, end-of-sequence, the loss on the summary. A long text
    /// is cut inside the prompt so that the summary and the prompt's end always fit.
    func causalBatch(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let tokenizer = model.tokenizer
        let eos = model.model.eosTokenIds.first.map { [$0] } ?? []
        let end = tokenizer.encode(Self.promptEnd, addSpecialTokens: false).ids
        var rows: [[Int]] = [], labels: [[Int]] = []
        for example in examples {
            let summary = Array(
                (tokenizer.encode(" " + (example.target ?? ""), addSpecialTokens: false).ids + eos).prefix(model.maxTargetLength))
            let room = max(1, model.maxLength - end.count - summary.count)
            let head = Array(tokenizer.encode("Summarize the text.\n\n" + example.text).ids.prefix(room))
            rows.append(Array((head + end + summary).prefix(model.maxLength)))
            labels.append(Array(([Int](repeating: -100, count: head.count + end.count) + summary).prefix(model.maxLength)))
        }
        return CausalLMTask.batch(rows: rows, labels: labels, for: model)
    }

    /// The loss, and ROUGE F-measures of greedy summaries summed over "summaries" (none when the
    /// model cannot generate).
    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        var totals = Evaluation.forEachBatch(model, dataset, batchSize: batchSize) { _, batch, targets in
            Double(model.model.head == .seq2seqLM ? targets.filter { $0 >= 0 }.count : TaskModel.predictedTokens(targets, batch: batch))
        }
        for name in ["summaries", "rouge1", "rouge2", "rougeL", "rougeLsum"] { totals[name] = 0 }
        guard let generating = model.model as? any CausalLanguageModel else { return totals }
        let generator = TextGenerator(model: generating, tokenizer: model.tokenizer)
        var predictions: [String] = []
        for start in stride(from: 0, to: dataset.examples.count, by: batchSize) {
            let prompts = dataset.examples[start..<min(dataset.examples.count, start + batchSize)].map { Self.prompt($0.text, for: model) }
            let generated = try? generator.generate(
                prompts, maxNewTokens: model.maxTargetLength, sampling: .greedy, maxLength: model.maxLength + model.maxTargetLength)
            predictions += generated?.map(\.text) ?? prompts.map { _ in "" }
        }
        for (example, prediction) in zip(dataset.examples, predictions) {
            let scores = RougeMetrics.score(reference: example.target ?? "", prediction: prediction, useStemmer: model.rougeUsesStemmer)
            totals["summaries"] += 1
            totals["rouge1"] += scores.rouge1.fmeasure
            totals["rouge2"] += scores.rouge2.fmeasure
            totals["rougeL"] += scores.rougeL.fmeasure
            totals["rougeLsum"] += scores.rougeLsum.fmeasure
        }
        return totals
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        var result = Evaluation.Result(examples: dataset.examples.count, loss: totals.meanLoss)
        let count = totals["summaries"]
        guard count > 0 else { return result }
        (result.rouge1, result.rouge2) = (totals["rouge1"] / count, totals["rouge2"] / count)
        (result.rougeL, result.rougeLsum) = (totals["rougeL"] / count, totals["rougeLsum"] / count)
        return result
    }
}
