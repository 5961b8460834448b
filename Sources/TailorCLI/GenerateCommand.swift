import ArgumentParser
import Foundation
import Inference

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
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var adapterOptions: AdapterOptions

    @Argument(help: "Prompts.")
    var prompts: [String] = []

    @Option(help: "A JSONL file with \"prompt\" per line.")
    var input: String?

    @Option(help: "Most tokens to generate per prompt.")
    var maxNewTokens = 32

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
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        if let temperature, temperature <= 0 { throw ValidationError("--temperature must be positive") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
    }

    func run() throws {
        try reportingErrors {
            var all = prompts
            if let input { all += try JSONLInput.strings(JSONLInput.read(input), key: "prompt", path: input) ?? [] }
            let source = try adapterOptions.source(model: model)
            let generator = try TextGenerator(folder: model, adapter: source.path)
            let sampling: Sampling = temperature.map { .sample(temperature: $0, topK: topK, topP: topP, seed: seed) } ?? .greedy
            for prompt in all {
                let result = try generator.generate(prompt, maxNewTokens: maxNewTokens, sampling: sampling)
                if outputOptions.json {
                    outputOptions.emit(.object(["prompt": .string(prompt), "tokens": .array(result.tokens.map { .int($0) }),
                                                "text": .string(result.text)]))
                } else {
                    print(prompt + result.text)
                }
            }
        }
    }
}
