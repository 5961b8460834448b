import Foundation
import SafeTensors

// Timing harness behind Scripts/bench: runs one measured job on a checkpoint and prints one JSON
// line with the best of N runs. Kept out of `tailor` so the product's CLI stays user-facing.
// Usage: tailor-bench open-touch FILE [RUNS] | convert FILE OUT [RUNS] | convert-kernel FILE [RUNS]

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var result = Double.infinity
    for _ in 0..<runs { result = min(result, try seconds(body)) }
    return result
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: tailor-bench open-touch|convert|convert-kernel FILE [OUT] [RUNS]\n".utf8))
    exit(2)
}
let job = arguments[1]
let path = arguments[2]
do {
    switch job {
    case "open-touch":
        // As Python's safe_open + get_tensor over every tensor: open, parse, view every tensor
        // and read one element of each (the data pages stay where the OS has them).
        let runs = arguments.count > 3 ? Int(arguments[3])! : 50
        var sink: UInt8 = 0
        let time = try best(runs) {
            let file = try SafeTensorsFile(path: path)
            for info in file.tensors {
                let view = file.view(of: info)
                if !view.bytes.isEmpty { sink &+= view.bytes[view.bytes.count - 1] }
            }
        }
        print(#"{"job":"open-touch","seconds":\#(time),"sink":\#(sink)}"#)
    case "convert":
        let output = arguments[3]
        let runs = arguments.count > 4 ? Int(arguments[4])! : 5
        let checkpoint = try Checkpoint.open(path)
        let bytes = checkpoint.tensorInfos.reduce(0) { $0 + $1.byteCount }
        let time = try best(runs) { _ = try CheckpointConversion.convert(checkpoint, to: .bf16, output: output) }
        print(#"{"job":"convert","seconds":\#(time),"bytes":\#(bytes)}"#)
    case "convert-kernel":
        let runs = arguments.count > 3 ? Int(arguments[3])! : 10
        let file = try SafeTensorsFile(path: path)
        let infos = file.tensors.filter { $0.dtype == .f32 }
        let bytes = infos.reduce(0) { $0 + $1.byteCount }
        var out = [UInt8](repeating: 0, count: bytes / 2)
        let time = try best(runs) {
            var offset = 0
            try out.withUnsafeMutableBytes { raw in
                for info in infos {
                    let destination = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<(offset + info.byteCount / 2)])
                    try DTypeConversion.convert(file.view(of: info).bytes, from: .f32, into: destination, as: .bf16, file: path)
                    offset += info.byteCount / 2
                }
            }
        }
        print(#"{"job":"convert-kernel","seconds":\#(time),"bytes":\#(bytes)}"#)
    default:
        FileHandle.standardError.write(Data("tailor-bench: unknown job \(job)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("tailor-bench: \(error)\n".utf8))
    exit(1)
}
