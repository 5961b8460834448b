import ArgumentParser
import Foundation
import Training

struct AnswerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "answer",
        abstract: "Answer questions from a context (extractive QA).",
        discussion: """
            Runs a question-answering model folder (BertForQuestionAnswering and the like, or a \
            base with a QUESTION_ANS adapter) on a question and its context, and prints the span \
            of the context it picks: the best sum of start and end logits over the 20 best starts \
            and ends, at most 30 tokens long, across the overlapping windows a long context is read \
            in (as transformers' run_qa post-processing). --input takes a JSONL file with \
            "question" and "context" per line. --json prints {"question", "answer", "start", "end", \
            "score"} per question (start and end count Unicode scalars, as Python indexes strings).

            Examples:
              tailor answer --model runs/qa-model --question "Who founded Acme?" --context "Acme was founded by Ada Lovelace in 1843."
              tailor answer --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter runs/qa-lora --input questions.jsonl --json
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var adapterOptions: AdapterOptions

    @Option(help: "The question.") var question: String?
    @Option(help: "The text that holds the answer.") var context: String?
    @Option(help: "A JSONL file with \"question\" and \"context\" per line.") var input: String?
    @Option(help: "Tokens per window (question, context and special tokens).") var maxLength = 384
    @Option(help: "Tokens that neighbouring windows of a long context share (default: a third of --max-length).")
    var docStride: Int?
    @OptionGroup var outputOptions: OutputOptions

    struct Printed: Codable {
        var question: String
        var answer: String
        var start: Int
        var end: Int
        var score: Float

        enum CodingKeys: String, CodingKey, CaseIterable { case question, answer, start, end, score }
    }

    func validate() throws {
        guard (question == nil) == (context == nil) else { throw ValidationError("give --question and --context together") }
        guard question != nil || input != nil else { throw ValidationError("give --question and --context, or --input FILE.jsonl") }
        guard maxLength >= 8 else { throw ValidationError("--max-length must be at least 8") }
        if let docStride, docStride < 0 || docStride >= maxLength {
            throw ValidationError("--doc-stride must be in 0..<--max-length")
        }
    }

    func run() throws {
        try reportingErrors {
            var pairs: [(String, String)] = []
            if let question, let context { pairs.append((question, context)) }
            if let input {
                let rows = try JSONLInput.read(input)
                let questions = try JSONLInput.strings(rows, key: "question", path: input) ?? []
                let contexts = try JSONLInput.strings(rows, key: "context", path: input) ?? []
                pairs += zip(questions, contexts).map { ($0, $1) }
            }
            let finder = try AnswerFinder(
                folder: model, adapters: adapterOptions.stack(model: model), maxLength: maxLength, docStride: docStride ?? maxLength / 3)
            if let warning = finder.model.untrainedHead { printWarning(warning) }
            for (question, context) in pairs {
                let found = try finder.answer(question: question, context: context)
                if outputOptions.json {
                    try outputOptions.emit(
                        Printed(question: question, answer: found.answer, start: found.start, end: found.end, score: found.score))
                } else {
                    print("\(found.answer)\t\(found.start)-\(found.end)\t\(question)")
                }
            }
        }
    }
}
