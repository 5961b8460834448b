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
        subcommands: [ExportMLXCommand.self])
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
        subcommands: [ImportMLXCommand.self])
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
