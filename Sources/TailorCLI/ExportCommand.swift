import ArgumentParser
import Export
import Foundation
import Models

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an adapter in another tool's format.",
        discussion: """
            `tailor export mlx` writes a LoRA or DoRA adapter as mlx-lm reads it (adapters.safetensors: \
            lora_a [in, r], lora_b [r, out]; adapter_config.json: fine_tune_type, num_layers, lora_parameters). \
            Per-module ranks are zero-padded to the largest and per-module scales folded into lora_b, so every \
            update equals PEFT's.

            Examples:
              tailor export mlx --model fixtures/tiny-llama --adapter runs/chat --output runs/chat-mlx
              mlx_lm.generate --model <the MLX conversion of the base> --adapter-path runs/chat-mlx --prompt "Hello"
            """,
        subcommands: [ExportGGUFCommand.self, ExportMLXCommand.self])
}

struct ExportGGUFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gguf", abstract: "Write a Llama-family model or LoRA adapter for llama.cpp.",
        discussion: """
            Without --adapter, the base model; with --adapter and --merge, the model with the adapters merged \
            in; with one --adapter alone, the adapter as a LoRA GGUF for that base (llama.cpp's --lora). Models \
            get llama.cpp's tensor names, q/k rows in its rotary order, its hyper-parameters and the tokenizer; \
            an NF4 base is dequantized first. --outtype f32, f16, bf16, q8_0 or q4_0 (adapters: f32, f16, bf16).

            Examples:
              tailor export gguf --model fixtures/tiny-llama --outtype f16 --output tiny-f16.gguf
              tailor export gguf --model fixtures/tiny-llama --adapter runs/chat --output chat-lora.gguf
              tailor export gguf --model fixtures/tiny-llama --adapter runs/chat --merge --outtype q8_0 --output chat-q8_0.gguf
              llama-cli -m tiny-f16.gguf --lora chat-lora.gguf -p "Hello"
            """)

    @Option(help: "The base model folder.") var model: String
    @OptionGroup var adapterOptions: AdapterOptions
    @Flag(help: "Merge the adapters into the model instead of writing a LoRA GGUF.") var merge = false
    @Option(help: "f32, f16, bf16, q8_0 or q4_0 (default: f16).") var outtype = "f16"
    @Option(help: "The .gguf file to write.") var output: String
    @Flag(help: "Replace an existing output file.") var overwrite = false
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if !merge, adapterOptions.adapter.count > 1 {
            throw ValidationError("a LoRA GGUF holds one adapter: give one --adapter, or --merge")
        }
        if merge, adapterOptions.adapter.isEmpty { throw ValidationError("--merge needs --adapter") }
    }

    func run() throws {
        try reportingErrors {
            let stack = try adapterOptions.stack(model: model)
            if stack.isEmpty || merge {
                let report = try GGUFModelExport.write(
                    model: model, adapters: stack, outtype: outtype, output: output, overwrite: overwrite)
                if outputOptions.json { return try outputOptions.emit(report) }
                print("wrote \(output): \(report.architecture), \(report.tensors) tensors, \(report.outtype), \(report.bytes) bytes")
            } else {
                let report = try GGUFLoRAExport.write(
                    model: model, adapter: stack[0].files, outtype: outtype, output: output, overwrite: overwrite)
                if outputOptions.json { return try outputOptions.emit(report) }
                print("wrote \(output): a LoRA adapter for \(report.architecture), \(report.modules) modules, alpha \(report.alpha)")
            }
        }
    }
}

struct ExportMLXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlx", abstract: "Write a LoRA/DoRA adapter in mlx-lm's layout.",
        discussion: """
            Example:
              tailor export mlx --model fixtures/tiny-llama --adapter runs/chat --output runs/chat-mlx
            """)

    @Option(help: "The base model folder (its number of layers places the adapter).") var model: String
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "The folder to write (must not exist).") var output: String
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard adapterOptions.adapter.count == 1, !adapterOptions.adapter[0].contains(":") else {
            throw ValidationError("give exactly one --adapter, unweighted (merge a stack into one adapter first)")
        }
    }

    func run() throws {
        try reportingErrors {
            let files = try adapterOptions.stack(model: model)[0].files
            let layers = try ConfigReader(path: model + "/config.json").int("num_hidden_layers", atLeast: 1)
            let report = try MLXAdapter.export(files, layers: layers, output: output)
            if outputOptions.json {
                try outputOptions.emit(report)
            } else {
                print(
                    "wrote \(output): \(report.modules) modules on the last \(report.numLayers) layers, rank \(report.rank), "
                        + "scale \(report.scale) (\(report.fineTuneType))")
            }
        }
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read another tool's adapter as PEFT.",
        discussion: """
            `tailor import mlx DIR` reads an mlx-lm adapter folder and writes a PEFT LoRA (or DoRA) adapter: \
            lora_A = lora_aᵀ, lora_B = lora_bᵀ, lora_alpha = scale · rank.

            Examples:
              tailor import mlx runs/chat-mlx --base-model fixtures/tiny-llama --output runs/chat-peft
            """,
        subcommands: [ImportGGUFCommand.self, ImportMLXCommand.self])
}

struct ImportGGUFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gguf", abstract: "Read a llama/qwen2 GGUF model or LoRA adapter back.",
        discussion: """
            A model GGUF becomes a Hugging Face folder (config.json, model.safetensors in f32, tokenizer.json \
            for byte-level BPE, tokenizer_config.json with the chat template); F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K \
            tensors are dequantized and q/k rows put back in Hugging Face's order. A LoRA GGUF becomes a PEFT \
            adapter for --base-model.

            Examples:
              tailor import gguf tiny-f16.gguf --output tiny-from-gguf
              tailor import gguf chat-lora.gguf --base-model fixtures/tiny-llama --output chat-peft
            """)

    @Argument(help: "The .gguf file.") var file: String
    @Option(help: "The base model folder (for a LoRA GGUF).") var baseModel: String?
    @Option(help: "The folder to write (must not exist).") var output: String
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let report = try GGUFImport.run(file, output: output, baseModel: baseModel)
            if outputOptions.json { return try outputOptions.emit(report) }
            print("wrote \(output): a \(report.architecture) \(report.kind), \(report.tensors) tensors")
        }
    }
}

struct ImportMLXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlx", abstract: "Read an mlx-lm adapter into a PEFT folder.",
        discussion: """
            Example:
              tailor import mlx runs/chat-mlx --base-model fixtures/tiny-llama --output runs/chat-peft
            """)

    @Argument(help: "The mlx-lm adapter folder (adapters.safetensors, adapter_config.json).") var folder: String
    @Option(help: "Recorded as the adapter's base_model_name_or_path.") var baseModel: String?
    @Option(help: "The PEFT folder to write (must not exist).") var output: String
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let report = try MLXAdapter.importAdapter(folder, output: output, baseModel: baseModel)
            if outputOptions.json {
                try outputOptions.emit(report)
            } else {
                print("wrote \(output): \(report.modules) modules, rank \(report.rank), lora_alpha \(report.scale * Double(report.rank))")
            }
        }
    }
}
