import Adapters
import ArgumentParser
import Foundation
import Inference
import Registry
import SafeTensors
import Workflows

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge adapters into one, or into the base.",
        discussion: """
            Into a new adapter: each module's exact update ΔW (s·B·A for LoRA; the adapted weight \
            less the base weight for DoRA, PiSSA and IA3, which needs --model) is combined in f32 \
            by --method and factored again by truncated SVD to --rank (default: the largest input \
            rank). linear and svd: the weighted sum; cat: the factors side by side, exact, rank = \
            the sum; ties: keep the top --density of each update by magnitude, elect each \
            element's sign, average the agreeing values; dare-linear / dare-ties: drop values at \
            random (seeded by --seed) keeping --density and rescaling, then sum / TIES; \
            magnitude-prune: prune by magnitude, then sum. Modules only some adapters target \
            merge over the union. Unlike PEFT's add_weighted_adapter, which combines the A and B \
            matrices separately (cross terms), the result is the chosen combination of the ΔW, \
            as PEFT's *_svd variants compute it. Writes a PEFT folder (--output) and/or a \
            registry version (--name).

            Into the base (--into-base): the same as `tailor deploy` (see its help): a Hugging \
            Face model folder with the adapter or weighted stack folded into the base weights.

            Examples:
              tailor merge sentiment topic --weights 0.7,0.3 --method ties --density 0.5 --name sentiment-topic
              tailor merge runs/a runs/b --method cat --output runs/a-plus-b
              tailor merge --into-base --model ~/.cache/tailor/all-MiniLM-L6-v2 runs/sentiment --output deploy/minilm-sentiment
              tailor merge --into-base --model fixtures/tiny-llama notes@prod:0.8 style:0.2 --dtype nf4 --output deploy/llama-notes --json
            """
    )

    @Argument(
        help: ArgumentHelp(
            "Adapters (folders or registry references); NAME:WEIGHT weights one in --into-base mode.",
            valueName: "adapter"))
    var adapters: [String] = []
    @Option(help: "Also an adapter (repeatable), as other commands take it.") var adapter: [String] = []
    @Flag(help: "Merge into the base model's weights and write a model folder (as tailor deploy).") var intoBase = false
    @Option(help: "The base model folder (required with --into-base; needed for DoRA, PiSSA and IA3 inputs).") var model: String?
    @Option(help: "How updates are combined.") var method: AdapterMerge.Method = .linear
    @Option(help: "Weights, comma-separated, one per adapter (default: 1 each).") var weights: String?
    @Option(help: "Fraction of each update kept by ties, dare-* and magnitude-prune.") var density: Float = 1
    @Option(help: "Rank of the merged adapter (default: the largest input rank; cat: their sum).") var rank: Int?
    @Option(help: "Seed of DARE's random pruning.") var seed: UInt64 = 0
    @Option(help: "Keep this adapter's (1-based position) modules_to_save when several save the same module.") var headFrom: Int?
    @OptionGroup var destination: AdapterOutputOptions
    @Option(help: "With --into-base: weights dtype f32, f16, bf16, or nf4 (merged in f32, then quantized once as tailor quantize does).")
    var dtype = "f32"
    @Flag(help: "Use registry adapters even if they were trained on a different base model.") var force = false
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    var all: [String] { adapters + adapter }
    var output: String? { destination.output }

    func validate() throws {
        guard !all.isEmpty else { throw ValidationError("name the adapters to merge") }
        if intoBase {
            guard model != nil, output != nil, destination.name == nil else {
                throw ValidationError("--into-base needs --model and --output (a model folder; --name stores adapters)")
            }
            guard DeployMerge.dtypes.contains(dtype) else { throw ValidationError("--dtype must be f32, f16, bf16 or nf4") }
        } else {
            try destination.validate()
            guard density > 0, density <= 1 else { throw ValidationError("--density must be in (0, 1]") }
            if let rank, rank <= 0 { throw ValidationError("--rank must be positive") }
            if let headFrom, !(1...all.count).contains(headFrom) { throw ValidationError("--head-from must be between 1 and \(all.count)") }
            if let weights, weights.split(separator: ",").count != all.count {
                throw ValidationError("--weights needs \(all.count) numbers")
            }
        }
    }

    func run() throws {
        try reportingErrors {
            try destination.destination(registry: registryOptions).checkOutputFree()
            if intoBase { try mergeIntoBase(model: model!, output: output!) } else { try mergeAdapters() }
        }
    }
}

extension MergeCommand {
    func mergeAdapters() throws {
        let resolver = AdapterResolver(model: model ?? "", registryRoot: registryOptions.root, force: force || model == nil)
        let start = Date()
        let files = try all.map { try resolver.resolve(AdapterStack.Member(reference: $0)).files }
        let inputs = try files.map { try AdapterUpdates($0, base: model) }
        if let warning = try AdapterUpdates.checkFit(inputs, model: model, taskOf: files[0]) { printWarning(warning) }
        let weightValues =
            try weights.map { text in
                try text.split(separator: ",").map { part -> Float in
                    guard let value = Float(part.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                        throw UsageProblem(description: "--weights: \(part) is not a number")
                    }
                    return value
                }
            } ?? [Float](repeating: 1, count: inputs.count)
        let options = AdapterMerge.Options(
            method: method, weights: weightValues, density: density,
            rank: rank, seed: seed, headFrom: headFrom.map { $0 - 1 })
        let result = try AdapterMerge.merge(inputs, options: options)
        let seconds = Date().timeIntervalSince(start)
        let saved = try destination.destination(registry: registryOptions).save(result.adapter, labels: result.labels, base: model)
        let worst = result.relativeErrors.max { $0.error < $1.error }
        let config = result.adapter.config
        if outputOptions.json {
            try outputOptions.emit(AdapterMerge.Report(adapters: all, options: options, result: result, seconds: seconds, saved: saved))
        } else {
            print(
                "merged \(all.joined(separator: " + ")) (\(method.rawValue), weights "
                    + "\(weightValues.map { String(format: "%g", $0) }.joined(separator: ","))) "
                    + "into a rank-\(config.r) LoRA over \(config.targetNames.count) modules in \(String(format: "%.2f s", seconds))")
            if let worst, worst.error > 0 {
                print(String(format: "largest rank-truncation error: %.3g of ‖ΔW‖ (%@)", worst.error, worst.module))
            }
            saved.printReport()
        }
    }

    func mergeIntoBase(model: String, output: String) throws {
        try DeployCommand.deploy(
            all, model: model, output: output, dtype: dtype, force: force, registry: registryOptions,
            outputOptions: outputOptions)
    }
}
