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
    @OptionGroup var destination: AdapterOutputOptions
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard rank > 0 else { throw ValidationError("--rank must be positive") }
        try destination.validate()
    }

    func run() throws {
        try reportingErrors {
            try destination.checkOutputFree()
            let tunedConfig = try ConfigReader(path: tuned + "/config.json")
            let head = try ModelFamilies.family(ofFolder: model).head(savedIn: tunedConfig)
            let classification = head == .sequenceClassification
            let labels = try tunedConfig.labels()
            let baseModel = try ModelLoader.load(folder: model, head: head, labels: labels)
            let tunedModel = try ModelLoader.load(folder: tuned, head: head, labels: labels)
            let baseCheckpoint = try Checkpoint.open(model)
            guard type(of: baseModel) == type(of: tunedModel) else {
                throw UsageProblem(description: "\(tuned): not the same architecture as \(model)")
            }
            // Heads the base checkpoint lacks were initialised at random by the loader: save them whole.
            let inFull = Set(tunedModel.linearModuleNames.filter { name in
                ![name, String(name.drop { $0 != "." }.dropFirst())].contains { baseCheckpoint.info($0 + ".weight") != nil }
            })
            let result = try LoRAExtraction.extract(base: baseModel, tuned: tunedModel, rank: rank, inFull: inFull,
                                                    taskType: classification ? "SEQ_CLS" : "CAUSAL_LM", baseModel: model)
            let registered = try destination.save(result.adapter, labels: classification ? labels : nil, base: model,
                                                  registry: registryOptions)
            let worst = result.relativeErrors.map(\.error).max() ?? 0
            if outputOptions.json {
                var object: [String: PythonJSONText.Value] = [
                    "rank": .int(rank), "modules": .int(result.relativeErrors.count),
                    "saved_in_full": .array(inFull.sorted().map { .string($0) }), "max_relative_error": .double(worst)]
                destination.report(registered, json: &object)
                outputOptions.emit(.object(object))
            } else {
                for (module, error) in result.relativeErrors { print(String(format: "%@\trelative error %.3g", module, error)) }
                print("extracted rank \(rank) from \(result.relativeErrors.count) modules "
                      + "(in full: \(inFull.sorted().joined(separator: ", ")))")
                destination.printReport(registered)
            }
        }
    }
}
