import Adapters
import ArgumentParser
import Foundation
import Inference
import SafeTensors
import Training
import Workflows

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify texts, or tag the entities in them.",
        discussion: """
            Runs a BERT (pooler + classifier) or Llama-family (score head) model folder on texts \
            given as arguments or as a JSONL file with "text" (and optional "text_pair") per line. \
            Prints the label and logits per text; with --json one JSON object per input line with \
            "text", "label" and "logits".

            With --task token-classification the model (BertForTokenClassification and the like, \
            or a base with a TOKEN_CLS adapter) tags every word, and the entities found are \
            printed with their character spans: "PER\t0-10\tAda Lovelace" per entity, or with \
            --json {"text", "entities": [{"type", "text", "start", "end", "score"}]} per text.

            --adapter applies an adapter (a folder or a registry reference); repeat it to stack \
            adapters, NAME:WEIGHT weighting each. A JSONL line may name its own adapter or stack \
            ("adapter": "sentiment", "a:0.7+b:0.3", "" for the base): the base is loaded once, \
            every adapter named is attached once, and lines with different adapters share \
            batches (each row gets its own low-rank update; the base weights are never copied).

            Examples:
              tailor classify --model fixtures/tiny-bert "what a lovely day" "terrible service"
              tailor classify --model ./my-classifier --input reviews.jsonl --json
              tailor classify --model fixtures/tiny-bert --adapter sentiment:0.7 --adapter topic:0.3 "great match"
              tailor classify --model fixtures/tiny-bert --input mixed.jsonl   # {"text": …, "adapter": "sentiment@prod"}
              tailor classify --task token-classification --model runs/ner-model "Ada Lovelace visited Paris."
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var adapterOptions: AdapterOptions

    @Argument(help: "Texts to classify.")
    var texts: [String] = []

    @Option(help: "A JSONL file with \"text\" (and optional \"text_pair\" and \"adapter\") per line.")
    var input: String?

    @Option(help: "Truncate inputs to this many tokens (default: the tokenizer's limit or 512).")
    var maxLength: Int?

    @Option(help: "Inputs per forward pass.")
    var batchSize = 16

    @Option(help: "classification (a label per text) or token-classification (entities).")
    var task: Dataset.Task = .classification

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard !texts.isEmpty || input != nil else { throw ValidationError("give texts as arguments or --input FILE.jsonl") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard task == .classification || task == .tokenClassification else {
            throw ValidationError("--task must be classification or token-classification (see `tailor answer`, `tailor generate`)")
        }
    }

    /// Tags the entities of each text (one adapter stack for all).
    func tagEntities() throws {
        var inputs = texts
        if let input {
            let rows = try JSONLInput.read(input)
            inputs += try JSONLInput.strings(rows, key: "text", path: input) ?? []
            if try JSONLInput.optionalStrings(rows, key: "adapter", path: input).contains(where: { $0 != nil }) {
                throw UsageProblem(description: "\(input): per-line adapters are for --task classification; give --adapter instead")
            }
        }
        let tagger = try EntityTagger(folder: model, adapters: adapterOptions.stack(model: model), maxLength: maxLength ?? 512)
        if let warning = tagger.model.untrainedHead { printWarning(warning) }
        for text in inputs {
            let entities = try tagger.tag(text)
            if outputOptions.json {
                try outputOptions.emit(TaggedText(text: text, entities: entities))
            } else {
                print(text)
                for entity in entities { print("  \(entity.type)\t\(entity.start)-\(entity.end)\t\(entity.text)") }
            }
        }
    }

    func run() throws {
        try reportingErrors {
            if task == .tokenClassification { return try tagEntities() }
            var inputs = texts
            var pairs: [String]?
            var lineAdapters: [String?]?
            if let input {
                let rows = try JSONLInput.read(input)
                inputs += try JSONLInput.strings(rows, key: "text", path: input) ?? []
                pairs = try JSONLInput.strings(rows, key: "text_pair", path: input, optional: true)
                if pairs != nil, !texts.isEmpty { pairs = [String](repeating: "", count: texts.count) + pairs! }
                let named = try JSONLInput.optionalStrings(rows, key: "adapter", path: input)
                if named.contains(where: { $0 != nil }) { lineAdapters = [String?](repeating: nil, count: texts.count) + named }
            }
            let classifier = try TextClassifier(
                folder: model, adapters: adapterOptions.stack(model: model), maxLength: maxLength,
                switching: lineAdapters != nil)
            classifier.batchSize = batchSize
            if !classifier.untrainedWeights.isEmpty, lineAdapters == nil {
                printWarning(
                    "\(model) has no trained classification head (\(classifier.untrainedWeights.joined(separator: ", ")) newly "
                        + "initialized at random): its labels mean nothing; train one (--modules-to-save) "
                        + "or apply an adapter that saves it")
            }
            let slots = try lineAdapters.map {
                try SlotAssignment.slots(for: $0, in: classifier.slots!, resolver: adapterOptions.resolver(model: model))
            }
            let results = try classifier.classify(inputs, pairs: pairs, slots: slots)
            for (index, (text, result)) in zip(inputs, results).enumerated() {
                if outputOptions.json {
                    try outputOptions.emit(ClassifiedText(text: text, result: result, adapter: lineAdapters?[index]))
                } else {
                    let logits = result.logits.map { String(format: "%.4f", $0) }.joined(separator: ", ")
                    print("\(result.label)\t[\(logits)]\t\(text)")
                }
            }
        }
    }
}
