import ArgumentParser
import Diagnostics
import Foundation
import Quantization
import SafeTensors

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List a checkpoint's tensors, sizes and metadata.",
        discussion: """
            PATH is a .safetensors file, a model folder, or a sharded checkpoint (its folder or its \
            model.safetensors.index.json). Says when the checkpoint is a bitsandbytes 4-bit model \
            or a PEFT adapter.

            Examples:
              tailor inspect model.safetensors
              tailor inspect ~/models/all-MiniLM-L6-v2 --json | jq '.parameters'
            """
    )

    @Argument(help: "A .safetensors file, a model folder, or a sharded checkpoint's index or folder.")
    var path: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let summary = try CheckpointSummary(Checkpoint.open(path))
            let quantized = summary.kind == .bitsAndBytes4Bit ? try BitsAndBytesSummary(summary.checkpoint) : nil
            if output.json {
                output.emit(Self.json(summary, quantized))
            } else {
                print(Self.text(summary, quantized), terminator: "")
            }
        }
    }

    static func json(_ summary: CheckpointSummary, _ quantized: BitsAndBytesSummary?) -> PythonJSONText.Value {
        let checkpoint = summary.checkpoint
        var object: [String: PythonJSONText.Value] = [
            "path": .string(checkpoint.path),
            "layout": .string(checkpoint.layout == .singleFile ? "single-file" : "sharded"),
            "files": .array(checkpoint.files.map { .string($0.path) }),
            "kind": .string(summary.kind.label),
            "parameters": .int(quantized?.parameterCount ?? summary.elementCount),
            "total_bytes": .int(summary.totalTensorBytes),
            "bytes_by_dtype": .object(Dictionary(uniqueKeysWithValues: summary.bytesByDType.map { ($0.key.rawValue, .int($0.value)) })),
            "metadata": checkpoint.metadata.map { .object($0.mapValues { .string($0) }) } ?? .null,
            "tensors": .array(
                checkpoint.tensorNames.map { name in
                    let info = checkpoint.info(name)!
                    return .object([
                        "name": .string(name),
                        "dtype": .string(info.dtype.rawValue),
                        "shape": .array(info.shape.map { .int($0) }),
                        "data_offsets": .array([.int(info.dataOffsets.lowerBound), .int(info.dataOffsets.upperBound)]),
                        "bytes": .int(info.byteCount),
                        "file": .string(PathText.name(of: checkpoint.file(holding: name)!.path)),
                    ])
                }),
        ]
        if case .peftAdapter(let type) = summary.kind { object["peft_type"] = type.map { .string($0) } ?? .null }
        if let quantized {
            object["quantized_weights"] = .array(
                quantized.weights.map { weight in
                    .object([
                        "name": .string(weight.name), "quant_type": .string(weight.state.quantType.rawValue),
                        "blocksize": .int(weight.state.blockSize), "nested": .bool(weight.isNested),
                        "shape": .array(weight.state.shape.map { .int($0) }), "dtype": .string(weight.state.dtype),
                    ])
                })
        }
        return .object(object)
    }

    static func text(_ summary: CheckpointSummary, _ quantized: BitsAndBytesSummary?) -> String {
        let checkpoint = summary.checkpoint
        var out = ""
        let layout: String
        switch checkpoint.layout {
        case .singleFile: layout = "single file"
        case .sharded(_, let shards): layout = "sharded, \(shards.count) files"
        }
        out += "\(checkpoint.path): safetensors, \(layout)\n"
        switch summary.kind {
        case .weights: out += "kind: model weights\n"
        case .bitsAndBytes4Bit:
            let weights = quantized?.weights ?? []
            let types = Set(weights.map { $0.state.quantType.rawValue }).sorted().joined(separator: ", ")
            let blocks = Set(weights.map(\.state.blockSize)).sorted().map(String.init).joined(separator: ", ")
            out += "kind: bitsandbytes 4-bit checkpoint (\(types), blocksize \(blocks), \(weights.count) quantized weights)\n"
        case .peftAdapter(let type):
            out += "kind: PEFT adapter" + (type.map { " (\($0))" } ?? "") + "\n"
        }
        if let metadata = checkpoint.metadata {
            let pairs = metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }
            out += "metadata: " + (pairs.isEmpty ? "(empty)" : pairs.joined(separator: ", ")) + "\n"
        }
        out +=
            "tensors: \(checkpoint.tensorNames.count), parameters: \(groupedDigits(quantized?.parameterCount ?? summary.elementCount)), "
            + "data: \(formatBytes(summary.totalTensorBytes))\n"
        let byDType = summary.bytesByDType.sorted { $0.key.writeRank > $1.key.writeRank }
        out += "bytes by dtype: " + byDType.map { "\($0.key.rawValue) \(formatBytes($0.value))" }.joined(separator: ", ") + "\n\n"
        if let quantized, !quantized.weights.isEmpty {
            let width = min(quantized.weights.map(\.name.count).max() ?? 4, 72)
            out += "quantized weights".padding(toLength: width, withPad: " ", startingAt: 0) + "  type  block  nested  shape (dtype)\n"
            for weight in quantized.weights {
                let state = weight.state
                out +=
                    weight.name.padding(toLength: max(width, weight.name.count), withPad: " ", startingAt: 0) + "  "
                    + state.quantType.rawValue.uppercased() + "   "
                    + String(state.blockSize).padding(toLength: 5, withPad: " ", startingAt: 0)
                    + "  " + (weight.isNested ? "yes   " : "no    ") + "  [" + state.shape.map(String.init).joined(separator: ", ")
                    + "] (\(state.dtype))\n"
            }
            out += "\n"
        }
        let infos = checkpoint.tensorInfos
        let nameWidth = min(max(4, infos.map(\.name.count).max() ?? 0), 72)
        out += "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype        shape                 bytes\n"
        for info in infos {
            let shape = "[" + info.shape.map(String.init).joined(separator: ", ") + "]"
            out +=
                info.name.padding(toLength: max(nameWidth, info.name.count), withPad: " ", startingAt: 0) + "  "
                + info.dtype.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                + shape.padding(toLength: max(20, shape.count), withPad: " ", startingAt: 0) + "  "
                + formatBytes(info.byteCount) + "\n"
        }
        return out
    }
}
