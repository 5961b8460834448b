import ArgumentParser
import Foundation
import SafeTensors

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a checkpoint against the safetensors rules.",
        discussion: """
            Validates the header, offsets, sizes and file length of every file (and, for a \
            sharded checkpoint, that the index agrees with its shards) exactly as the official \
            safetensors crate does. Exits 0 when valid; otherwise prints the first problem and \
            exits 1.

            Examples:
              tailor verify model.safetensors
              tailor verify ~/models/llama --json
            """
    )

    @Argument(help: "A .safetensors file, a model folder, or a sharded checkpoint's index or folder.")
    var path: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        do {
            let checkpoint = try Checkpoint.open(path)
            if output.json {
                output.emit(
                    .object([
                        "ok": .bool(true), "path": .string(path),
                        "files": .int(checkpoint.files.count), "tensors": .int(checkpoint.tensorNames.count),
                    ]))
            } else {
                print("ok: \(path): \(checkpoint.tensorNames.count) tensors in \(checkpoint.files.count) file(s)")
            }
        } catch {
            if output.json {
                // The error object every command prints under --json, plus the verdict.
                var problem: [String: PythonJSONText.Value] = ["message": .string(error.description), "file": .string(error.file)]
                if let tensor = error.tensor { problem["tensor"] = .string(tensor) }
                output.emit(.object(["ok": .bool(false), "path": .string(path), "error": .object(problem)]))
                FileHandle.standardError.write(Data("tailor: error: \(error.description)\n".utf8))
            } else {
                printError(error.description)
            }
            throw ExitCode(1)
        }
    }
}
