import Adapters
import ArgumentParser
import Foundation
import Models
import SafeTensors

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a LoRA adapter from a fully fine-tuned model.",
        discussion: """
            Truncated SVD of each Linear weight's difference from the base (as mergekit does): a \
            PEFT LoRA adapter of rank R whose update is the best rank-R approximation, heads the \
            base lacks saved in full, written to --output and/or stored in the registry as \
            --name. Prints each module's relative error.

            Examples:
              tailor extract --model fixtures/tiny-bert --tuned runs/full --rank 8 --output runs/extracted
              tailor extract --model ~/.cache/tailor/all-MiniLM-L6-v2 --tuned runs/full --rank 16 --name full-r16 --json
            """
    )

    @Option(help: "The base model folder.") var model: String
    @Option(help: "The fully fine-tuned model folder (same architecture).") var tuned: String
    @Option(help: "LoRA rank.") var rank = 8
    @OptionGroup var newAdapter: AdapterOutputOptions
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard rank > 0 else { throw ValidationError("--rank must be positive") }
        try newAdapter.validate()
    }

    func run() throws {
        try reportingErrors {
            let destination = newAdapter.destination(registry: registryOptions)
            try destination.checkOutputFree()
            let extracted = try LoRAExtraction.extract(baseFolder: model, tunedFolder: tuned, rank: rank)
            let result = extracted.extraction
            let saved = try destination.save(result.adapter, labels: extracted.labels, base: model)
            let worst = result.relativeErrors.map(\.error).max() ?? 0
            if outputOptions.json {
                var object: [String: PythonJSONText.Value] = [
                    "rank": .int(rank), "modules": .int(result.relativeErrors.count),
                    "saved_in_full": .array(extracted.savedInFull.map { .string($0) }), "max_relative_error": .double(worst),
                ]
                saved.report(json: &object)
                outputOptions.emit(.object(object))
            } else {
                for (module, error) in result.relativeErrors { print(String(format: "%@\trelative error %.3g", module, error)) }
                print(
                    "extracted rank \(rank) from \(result.relativeErrors.count) modules "
                        + "(in full: \(extracted.savedInFull.joined(separator: ", ")))")
                saved.printReport()
            }
        }
    }
}
