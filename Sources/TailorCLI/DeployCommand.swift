import Adapters
import ArgumentParser
import Foundation
import Inference
import Workflows

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Merge adapters into the base: a plain model folder.",
        discussion: """
            Folds the adapter or weighted stack into every Linear weight of the base in f32 and \
            writes a Hugging Face model folder that transformers loads without PEFT, in f32, f16, \
            bf16 or nf4 (merged in f32, quantized once, QLoRA's deploy path). A 4-bit base is \
            merged into its dequantized weights. Prompt and prefix tuning change the input, not a \
            weight, and are refused; so is an adapter on an lm_head tied to the embeddings. Prints \
            the largest logit difference between the merged model and base + adapter on a random \
            sample. `tailor merge --into-base` is the same command.

            Examples:
              tailor deploy --model ~/.cache/tailor/all-MiniLM-L6-v2 runs/sentiment --output deploy/minilm-sentiment
              tailor deploy --model fixtures/tiny-llama notes@prod:0.8 style:0.2 --dtype nf4 --output deploy/llama-notes --json
            """
    )

    @Option(help: "The base model folder.") var model: String
    @Argument(help: ArgumentHelp("Adapters (folders or registry references); NAME:WEIGHT weights one.", valueName: "adapter"))
    var adapters: [String] = []
    @Option(help: "Also an adapter (repeatable), as other commands take it.") var adapter: [String] = []
    @Option(help: "The model folder to create.") var output: String
    @Option(help: "Weights dtype: f32, f16, bf16, or nf4 (merged in f32, then quantized once as tailor quantize does).")
    var dtype = "f32"
    @Flag(help: "Use registry adapters even if they were trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard !(adapters + adapter).isEmpty else { throw ValidationError("name the adapters to merge into the base") }
        guard DeployMerge.dtypes.contains(dtype) else { throw ValidationError("--dtype must be f32, f16, bf16 or nf4") }
    }

    func run() throws {
        try reportingErrors {
            try Self.deploy(
                adapters + adapter, model: model, output: output, dtype: dtype, force: force, registry: registryOptions,
                outputOptions: outputOptions)
        }
    }

    /// What `deploy` and `merge --into-base` run.
    static func deploy(
        _ references: [String], model: String, output: String, dtype: String, force: Bool, registry: RegistryOptions,
        outputOptions: OutputOptions
    ) throws {
        let stack = try AdapterResolver(model: model, registryRoot: registry.root, force: force).resolve(references: references)
        let report = try DeployMerge.write(stack, base: model, output: output, dtype: dtype)
        if outputOptions.json {
            try outputOptions.emit(report)
        } else {
            print("merged \(references.joined(separator: " + ")) into \(model): \(output) (\(report.tensors) tensors, \(dtype))")
            print(
                String(
                    format: "merged vs base + adapter: logits differ by at most %.3g (mean %.3g) on a random sample",
                    report.change.maxChange, report.change.meanChange))
        }
    }
}
