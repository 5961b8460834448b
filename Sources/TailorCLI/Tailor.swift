import ArgumentParser
import SafeTensors

/// The `tailor` command: parameter-efficient fine-tuning of transformer models, one native
/// binary. Subcommands parse and print only; the work is done by the library modules.
@main
struct Tailor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailor",
        abstract: "Fine-tune transformer models the parameter-efficient way, on your own machine.",
        discussion: """
            Reads and writes Hugging Face safetensors checkpoints (single files, model folders and \
            sharded checkpoints) and bitsandbytes 4-bit models, compatible with transformers, \
            PEFT and bitsandbytes.

            Examples:
              tailor inspect ~/models/all-MiniLM-L6-v2
              tailor convert model.safetensors model-bf16.safetensors --dtype bf16
              tailor verify ~/models/llama/model.safetensors.index.json
              tailor quantize ~/models/llama --output ~/models/llama-nf4
            """,
        version: "0.1.0",
        subcommands: [
            InspectCommand.self, ConvertCommand.self, VerifyCommand.self, QuantizeCommand.self,
            DequantizeCommand.self, TrainCommand.self, EvalCommand.self, CompareCommand.self, ClassifyCommand.self, GenerateCommand.self,
            BenchCommand.self, MergeCommand.self, DeployCommand.self, DiffCommand.self, ExtractCommand.self, AdapterCommand.self,
            RegistryCommand.self, ServeCommand.self, AnswerCommand.self, ExportCommand.self, ImportCommand.self, DemoCommand.self,
        ]
    )

    /// ArgumentParser's main, except that under --json a usage error (a bad option value) is
    /// also one JSON object on stdout, like every other error.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if jsonRequested, code != .success, !(error is ExitCode) {
                let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                print(PythonJSONText.renderCompact(.object(["error": .object(["message": .string(message), "file": .null])])))
            }
            exit(withError: error)
        }
    }
}
