import ArgumentParser
import Foundation
import Inference
import SafeTensors
import TrainingCore
import Workflows

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a causal language model.",
        discussion: """
            Continues each prompt (arguments, or "prompt" per line of a JSONL file) with a \
            Llama-family model folder, using a key/value cache. Greedy by default; --temperature, \
            --top-k and --top-p sample with a seeded generator. With --json one JSON object per \
            prompt with "prompt", "tokens" (the generated ids) and "text".

            Examples:
              tailor generate --model fixtures/tiny-llama "Hello" --max-new-tokens 20
              tailor generate --model ./llama --input prompts.jsonl --temperature 0.8 --top-p 0.95 --seed 1 --json
              tailor generate --model fixtures/tiny-llama --adapter notes:0.5 --adapter style:0.5 "Dear team"
              tailor generate --model fixtures/tiny-llama --input requests.jsonl   # {"prompt": …, "adapter": "notes@prod"}

            Prompts are decoded --batch-size at a time: every generated token is one batch \
            through the model. --adapter applies an adapter (folder or registry reference); \
            repeat it to stack adapters (NAME:WEIGHT). A JSONL line's "adapter" picks the adapter \
            for that prompt: the base is loaded once, and prompts with different adapters share \
            batches (per-row low-rank updates, no weight copy).
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var adapterOptions: AdapterOptions

    @Argument(help: "Prompts.")
    var prompts: [String] = []

    @Option(help: "A JSONL file with \"prompt\" (and optional \"adapter\": a name, a stack a:0.7+b:0.3, or \"\" for the base) per line.")
    var input: String?

    @Option(help: "Most tokens to generate per prompt.")
    var maxNewTokens = 32

    @Option(help: "Most tokens per sequence, prompt included (default: the model's positions); longer prompts keep their end.")
    var maxLength: Int?

    @Option(help: "Prompts decoded together (one batch through the model per generated token).")
    var batchSize = 8

    @Flag(help: "Decode with an in-memory NF4 copy of the output head (llama.cpp quantizes its output layer too).")
    var quantizeHead = false

    @Option(
        name: .customLong("compute-dtype"),
        help: "f32, or bf16 as transformers computes a bfloat16 model (default: torch_dtype / bnb_4bit_compute_dtype).")
    var computeDType: ComputeDType?

    @Flag(help: "Always take the most likely token (the default unless --temperature is given).")
    var greedy = false

    @Option(help: "Sampling temperature (> 0).")
    var temperature: Float?

    @Option(help: "Sample among the K most likely tokens (0: all).")
    var topK = 0

    @Option(help: "Sample from the smallest set of tokens whose probability reaches P.")
    var topP: Float = 1

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard !prompts.isEmpty || input != nil else { throw ValidationError("give prompts as arguments or --input FILE.jsonl") }
        guard maxNewTokens > 0 else { throw ValidationError("--max-new-tokens must be positive") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        if let temperature {
            try requireRange(temperature.isFinite && temperature > 0, "--temperature", "a finite number > 0", temperature)
        }
        try requireRange((maxLength ?? 2) > 1, "--max-length", "at least 2", maxLength ?? 0)
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
    }

    func run() throws {
        try reportingErrors {
            var all = prompts
            var lineAdapters: [String?]?
            if let input {
                let rows = try JSONLInput.read(input)
                all += try JSONLInput.strings(rows, key: "prompt", path: input) ?? []
                let named = try JSONLInput.optionalStrings(rows, key: "adapter", path: input)
                if named.contains(where: { $0 != nil }) { lineAdapters = [String?](repeating: nil, count: prompts.count) + named }
            }
            let generator = try TextGenerator(
                folder: model, adapters: adapterOptions.stack(model: model), switching: lineAdapters != nil,
                quantizeHead: quantizeHead ? .nf4 : nil, computeDType: computeDType)
            let slots = try lineAdapters.map {
                try SlotAssignment.slots(for: $0, in: generator.slots!, resolver: adapterOptions.resolver(model: model))
            }
            let sampling: Sampling = temperature.map { .sample(temperature: $0, topK: topK, topP: topP, seed: seed) } ?? .greedy
            for start in stride(from: 0, to: all.count, by: batchSize) {
                let range = start..<min(all.count, start + batchSize)
                let results = try generator.generate(
                    Array(all[range]), maxNewTokens: maxNewTokens, sampling: sampling,
                    slots: slots.map { Array($0[range]) }, maxLength: maxLength)
                for (index, result) in zip(range, results) {
                    if result.truncatedPromptTokens > 0 {
                        printWarning(
                            "prompt \(index + 1) is longer than the \(generator.contextLength(maxLength: maxLength)) tokens "
                                + "a sequence may hold with --max-new-tokens \(maxNewTokens); "
                                + "its first \(result.truncatedPromptTokens) tokens were dropped")
                    }
                    if outputOptions.json {
                        try outputOptions.emit(GeneratedText(prompt: all[index], result: result, adapter: lineAdapters?[index]))
                    } else {
                        print(all[index] + result.text)
                    }
                }
            }
        }
    }
}
