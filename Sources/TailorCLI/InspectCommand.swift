import ArgumentParser
import Foundation
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
            if output.json {
                output.emit(Self.json(summary))
            } else {
                print(Self.text(summary), terminator: "")
            }
        }
    }

    static func json(_ summary: CheckpointSummary) -> PythonJSONText.Value {
        let checkpoint = summary.checkpoint
        var object: [String: PythonJSONText.Value] = [
            "path": .string(checkpoint.path),
            "layout": .string(checkpoint.layout == .singleFile ? "single-file" : "sharded"),
            "files": .array(checkpoint.files.map { .string($0.path) }),
            "kind": .string(summary.kind.label),
            "parameters": .int(summary.parameterCount),
            "total_bytes": .int(summary.totalTensorBytes),
            "bytes_by_dtype": .object(Dictionary(uniqueKeysWithValues: summary.bytesByDType.map { ($0.key.rawValue, .int($0.value)) })),
            "metadata": checkpoint.metadata.map { .object($0.mapValues { .string($0) }) } ?? .null,
            "tensors": .array(checkpoint.tensorNames.map { name in
                let info = checkpoint.info(name)!
                return .object([
                    "name": .string(name),
                    "dtype": .string(info.dtype.rawValue),
                    "shape": .array(info.shape.map { .int($0) }),
                    "data_offsets": .array([.int(info.dataOffsets.lowerBound), .int(info.dataOffsets.upperBound)]),
                    "bytes": .int(info.byteCount),
                    "file": .string((checkpoint.file(holding: name)!.path as NSString).lastPathComponent),
                ])
            }),
        ]
        switch summary.kind {
        case .weights: break
        case let .bitsAndBytes4Bit(types, blockSizes, count):
            object["quantization"] = .object(["quant_types": .array(types.map { .string($0) }),
                                              "blocksizes": .array(blockSizes.map { .int($0) }),
                                              "quantized_weights": .int(count)])
        case .peftAdapter(let type):
            object["peft_type"] = type.map { .string($0) } ?? .null
        }
        return .object(object)
    }

    static func text(_ summary: CheckpointSummary) -> String {
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
        case let .bitsAndBytes4Bit(types, blockSizes, count):
            out += "kind: bitsandbytes 4-bit checkpoint (\(types.joined(separator: ", ")), blocksize "
                + "\(blockSizes.map(String.init).joined(separator: ", ")), \(count) quantized weights)\n"
        case .peftAdapter(let type):
            out += "kind: PEFT adapter" + (type.map { " (\($0))" } ?? "") + "\n"
        }
        if let metadata = checkpoint.metadata {
            let pairs = metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }
            out += "metadata: " + (pairs.isEmpty ? "(empty)" : pairs.joined(separator: ", ")) + "\n"
        }
        out += "tensors: \(checkpoint.tensorNames.count), parameters: \(groupedDigits(summary.parameterCount)), "
            + "data: \(formatBytes(summary.totalTensorBytes))\n"
        let byDType = summary.bytesByDType.sorted { $0.key.writeRank > $1.key.writeRank }
        out += "bytes by dtype: " + byDType.map { "\($0.key.rawValue) \(formatBytes($0.value))" }.joined(separator: ", ") + "\n\n"
        let infos = checkpoint.tensorInfos
        let nameWidth = min(max(4, infos.map(\.name.count).max() ?? 0), 72)
        out += "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype        shape                 bytes\n"
        for info in infos {
            let shape = "[" + info.shape.map(String.init).joined(separator: ", ") + "]"
            out += info.name.padding(toLength: max(nameWidth, info.name.count), withPad: " ", startingAt: 0) + "  "
                + info.dtype.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                + shape.padding(toLength: max(20, shape.count), withPad: " ", startingAt: 0) + "  "
                + formatBytes(info.byteCount) + "\n"
        }
        return out
    }
}

/// 22713216 → "22,713,216".
func groupedDigits(_ value: Int) -> String {
    let digits = Array(String(value))
    var out = ""
    for (i, digit) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return out
}
