import Adapters
import ArgumentParser
import Foundation
import Quantization
import SafeTensors
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model or an adapter on a labelled dataset.",
        discussion: """
            Computes the loss and the task's metrics of a model folder, optionally with a PEFT \
            adapter folder on top (ours or Python PEFT's): accuracy and macro-F1 (classification), \
            perplexity (causal-lm), seqeval's entity-level precision, recall and F1 \
            (token-classification: "tokens" and "ner_tags" per record), SQuAD's exact_match and \
            F1 in percent (question-answering: "question", "context", "answers" per record).

            Examples:
              tailor eval --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter runs/sentiment --data fixtures/sentiment/test.jsonl
              tailor eval --model runs/full-model --data test.csv --json
              tailor eval --model runs/ner-model --task token-classification --data fixtures/tasks/ner/test.jsonl
            """
    )

    @Option(help: "The base model folder (or a fully fine-tuned one).") var model: String
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "Labelled data (CSV or JSONL).") var data: String
    @Option(help: "What the model was trained for.") var task: Dataset.Task = .classification
    @Option(help: "Examples per forward pass.") var batchSize = 32
    @Flag(help: "Summarization: ROUGE with Porter stemming (rouge_score's use_stemmer=True).") var useStemmer = false
    @Option(help: "Truncate inputs to this many tokens.") var maxLength = 128
    @Option(help: "Question answering: tokens that neighbouring windows of a long context share (a quarter of --max-length).")
    var docStride: Int?
    @Option(help: "4-bit type the base was trained with (QLoRA).") var quantize: QuantType?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let result = try Evaluation.result(
                folder: model, adapters: adapterOptions.stack(model: model), data: data, task: task,
                quantize: quantize, maxLength: maxLength, docStride: docStride, batchSize: batchSize,
                useStemmer: useStemmer)
            if outputOptions.json {
                try outputOptions.emit(result)
            } else {
                let metrics = result.metrics
                print(
                    "\(result.examples) examples: "
                        + metrics.keys.sorted().map { String(format: "%@ %.4f", $0, metrics[$0]!) }.joined(separator: "  "))
            }
        }
    }
}
