import Adapters
import ArgumentParser
import Foundation
import Models
import SafeTensors
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model or an adapter on a labelled dataset.",
        discussion: """
            Computes the loss and, for classification, accuracy and macro-F1 (perplexity for \
            causal LM) of a model folder, optionally with a PEFT adapter folder on top (ours or \
            Python PEFT's).

            Examples:
              tailor eval --model ~/.cache/tailor/all-MiniLM-L6-v2 --adapter runs/sentiment --data fixtures/sentiment/test.jsonl
              tailor eval --model runs/full-model --data test.csv --json
            """
    )

    @Option(help: "The base model folder (or a fully fine-tuned one).") var model: String
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "Labelled data (CSV or JSONL).") var data: String
    @Option(help: "classification or causal-lm.") var task = "classification"
    @Option(help: "Examples per forward pass.") var batchSize = 32
    @Option(help: "Truncate inputs to this many tokens.") var maxLength = 128
    @Option(help: "4-bit type the base was trained with (QLoRA): nf4 or fp4.") var quantize: String?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard Dataset.Task(rawValue: task) != nil else { throw ValidationError("--task must be classification or causal-lm") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let taskKind = Dataset.Task(rawValue: task)!
            let stack = try adapterOptions.stack(model: model)
            var labels = stack.lazy.compactMap(\.files.labels).first
            if labels == nil, taskKind == .classification {
                labels = try ConfigReader(path: model + "/config.json").labels()
            }
            let dataset = try Dataset.load(data, task: taskKind, knownLabels: taskKind == .classification ? labels : nil)
            let taskModel = try TaskModel(folder: model, task: taskKind, method: stack.isEmpty ? .full : .lora, loraConfig: nil,
                                          quantize: quantize.flatMap { .init(rawValue: $0) }, labels: labels, maxLength: maxLength,
                                          seed: 0, adapters: stack)
            try taskModel.checkTokenIds(of: dataset)
            let result = Evaluation.result(of: taskModel, on: dataset, batchSize: batchSize)
            if outputOptions.json {
                try outputOptions.emit(result)
            } else {
                let metrics = result.metrics
                print("\(result.examples) examples: "
                      + metrics.keys.sorted().map { String(format: "%@ %.4f", $0, metrics[$0]!) }.joined(separator: "  "))
            }
        }
    }
}
