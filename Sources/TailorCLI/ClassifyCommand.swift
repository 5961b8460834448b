import ArgumentParser
import Foundation
import Inference
import SafeTensors

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify texts with a sequence-classification model.",
        discussion: """
            Runs a BERT (pooler + classifier) or Llama-family (score head) model folder on texts \
            given as arguments or as a JSONL file with "text" (and optional "text_pair") per line. \
            Prints the label and logits per text; with --json one JSON object per input line with \
            "text", "label" and "logits".

            Examples:
              tailor classify --model fixtures/tiny-bert "what a lovely day" "terrible service"
              tailor classify --model ./my-classifier --input reviews.jsonl --json
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var adapterOptions: AdapterOptions

    @Argument(help: "Texts to classify.")
    var texts: [String] = []

    @Option(help: "A JSONL file with \"text\" (and optional \"text_pair\") per line.")
    var input: String?

    @Option(help: "Truncate inputs to this many tokens (default: the tokenizer's limit or 512).")
    var maxLength: Int?

    @Option(help: "Inputs per forward pass.")
    var batchSize = 16

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard !texts.isEmpty || input != nil else { throw ValidationError("give texts as arguments or --input FILE.jsonl") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        try reportingErrors {
            var inputs = texts
            var pairs: [String]?
            if let input {
                let rows = try JSONLInput.read(input)
                inputs += try JSONLInput.strings(rows, key: "text", path: input) ?? []
                pairs = try JSONLInput.strings(rows, key: "text_pair", path: input, optional: true)
                if pairs != nil, !texts.isEmpty { pairs = [String](repeating: "", count: texts.count) + pairs! }
            }
            let source = try adapterOptions.source(model: model)
            let classifier = try TextClassifier(folder: model, adapter: source.path, maxLength: maxLength)
            classifier.batchSize = batchSize
            let results = try classifier.classify(inputs, pairs: pairs)
            for (text, result) in zip(inputs, results) {
                if outputOptions.json {
                    outputOptions.emit(.object(["text": .string(text), "label": .string(result.label),
                                                "logits": .array(result.logits.map { .double(Double($0)) })]))
                } else {
                    let logits = result.logits.map { String(format: "%.4f", $0) }.joined(separator: ", ")
                    print("\(result.label)\t[\(logits)]\t\(text)")
                }
            }
        }
    }
}
