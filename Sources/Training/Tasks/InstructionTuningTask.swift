import Foundation
import Models
import Tokenizers

/// Supervised fine-tuning of a causal LM on conversations: records with `messages` (a list of
/// `{"role", "content"}`) rendered with the model's chat template, or `prompt` and `completion`
/// (as a user turn and the assistant's answer when the model has a template, else joined as
/// plain text). The loss covers the assistant's turns only, as TRL's SFTTrainer with
/// `assistant_only_loss` / `completion_only_loss`: each assistant turn is what rendering the
/// conversation up to it adds to rendering it up to its generation prompt, end-of-turn
/// tokens included. Perplexity over those tokens.
struct InstructionTuningTask: TaskKind {
    var head: ModelHead { .causalLM }

    func example(from record: DataRecord, labels: inout LabelNames) throws -> Example {
        if record.values["messages"] != nil {
            guard let list = record.values["messages"] as? [[String: Any]], !list.isEmpty else {
                throw record.problem("needs \"messages\" as a list of {\"role\", \"content\"} objects")
            }
            let messages = try list.enumerated().map { index, message -> [String: String] in
                guard let role = message["role"] as? String, let content = message["content"] as? String else {
                    throw record.problem("messages[\(index)] needs a \"role\" and a text \"content\"")
                }
                return ["role": role, "content": content]
            }
            guard messages.contains(where: { $0["role"] == "assistant" }) else {
                throw record.problem("has no assistant message to learn from")
            }
            return Example(text: "", messages: messages)
        }
        guard let prompt = record.string("prompt"), let completion = record.string("completion") else {
            throw record.problem("needs \"messages\", or \"prompt\" and \"completion\"")
        }
        return Example(text: completion, prompt: prompt)
    }

    /// The example's text in pieces, each marked whether the loss covers it.
    static func segments(_ example: Example, template: ChatTemplate?) throws -> [(text: String, trained: Bool)] {
        let messages =
            example.messages ?? example.prompt.map { [["role": "user", "content": $0], ["role": "assistant", "content": example.text]] }
        guard let template, let messages else {
            return [(example.prompt ?? "", false), (example.text, true)]
        }
        let whole = try template.render(messages: messages)
        var segments: [(String, Bool)] = [], covered = 0
        for (index, message) in messages.enumerated() where message["role"] == "assistant" {
            let before = try template.render(messages: Array(messages[..<index]), addGenerationPrompt: true)
            let through = try template.render(messages: Array(messages[...index]))
            guard through.hasPrefix(before), whole.hasPrefix(through), before.count >= covered else {
                throw TrainingError(
                    file: template.file,
                    "the chat template renders a conversation's earlier turns differently once later ones follow, so the "
                        + "assistant's tokens cannot be told apart; train with --task causal-lm on rendered text instead")
            }
            segments.append((String(whole.dropFirst(covered).prefix(before.count - covered)), false))
            segments.append((String(through.dropFirst(before.count)), true))
            covered = through.count
        }
        segments.append((String(whole.dropFirst(covered)), false))
        return segments.filter { !$0.0.isEmpty }
    }

    func check(_ dataset: Dataset, for model: TaskModel) throws {
        if model.chatTemplate == nil, dataset.examples.contains(where: { $0.messages != nil }) {
            throw TrainingError(
                file: dataset.path,
                "has \"messages\" records but \(model.folder) has no chat template (tokenizer_config.json's chat_template "
                    + "or chat_template.jinja)")
        }
        for example in dataset.examples { _ = try Self.segments(example, template: model.chatTemplate) }
    }

    func encode(_ examples: [Example], for model: TaskModel) -> (TokenBatch, targets: [Int]) {
        let tokenizer = model.tokenizer
        let eos = model.model.eosTokenIds.first.map { [$0] } ?? []
        var rows: [[Int]] = [], labels: [[Int]] = []
        for example in examples {
            // check(_:for:) rendered every example before training: this does not fail.
            let segments = (try? Self.segments(example, template: model.chatTemplate)) ?? [(example.text, true)]
            var ids: [Int] = [], target: [Int] = []
            if model.chatTemplate == nil {
                // Plain text: the tokenizer's own special tokens start it, the end-of-sequence token ends it.
                ids = tokenizer.encode(segments[0].text).ids
                target = [Int](repeating: -100, count: ids.count)
                for segment in segments.dropFirst() {
                    let piece = tokenizer.encode(segment.text, addSpecialTokens: false).ids
                    ids += piece
                    target += segment.trained ? piece : piece.map { _ in -100 }
                }
                ids += eos
                target += eos
            } else {
                // A rendered chat carries its special tokens: transformers tokenizes it without adding any.
                for segment in segments {
                    let piece = tokenizer.encode(segment.text, addSpecialTokens: false).ids
                    ids += piece
                    target += segment.trained ? piece : piece.map { _ in -100 }
                }
            }
            rows.append(Array(ids.prefix(model.maxLength)))
            labels.append(Array(target.prefix(model.maxLength)))
        }
        return CausalLMTask.batch(rows: rows, labels: labels, for: model)
    }

    func evaluationTotals(_ model: TaskModel, on dataset: Dataset, batchSize: Int) -> Evaluation.Totals {
        CausalLMTask().evaluationTotals(model, on: dataset, batchSize: batchSize)
    }

    func result(from totals: Evaluation.Totals, of dataset: Dataset) -> Evaluation.Result {
        CausalLMTask().result(from: totals, of: dataset)
    }
}
