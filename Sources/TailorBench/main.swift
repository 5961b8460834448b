import CZstd
import Collectives
import Foundation
import Quantization
import Registry
import SafeTensors
import TrainingCore

// Timing harness behind Scripts/bench: runs one measured job on a checkpoint and prints one JSON
// line with the best of N runs. Kept out of `tailor` so the product's CLI stays user-facing.
// Usage: TailorBench open-touch FILE [RUNS] | convert FILE OUT [RUNS] | convert-kernel FILE [RUNS]
//        | quantize-matrix SIDE [RUNS] | quantize-model MODEL_DIR OUT [RUNS] | compress FILE [RUNS]
//        | allreduce FLOATS [RUNS]   (under mpirun: the median f32 all-reduce time, rank 0 prints)

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
guard arguments.count >= 3 || arguments.dropFirst().first == "gemm" else {
    FileHandle.standardError.write(Data("usage: tailor-bench open-touch|convert|convert-kernel FILE [OUT] [RUNS]\n".utf8))
    exit(2)
}
let job = arguments[1]
let path = arguments.count > 2 ? arguments[2] : ""
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
        // Each timed run replaces the last one's output.
        let time = try best(runs) { _ = try CheckpointConversion.convert(checkpoint, to: .bf16, output: output, overwrite: true) }
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
    case "quantize-matrix":
        // NF4 + double quantization of a SIDE×SIDE f32 matrix of N(0, 0.02) values, then back.
        let side = Int(path)!
        let runs = arguments.count > 3 ? Int(arguments[3])! : 5
        var state: UInt64 = 42
        let values = (0..<(side * side)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Float(state >> 40) / Float(1 << 24)
            return (u - 0.5) * 0.04
        }
        var weight: QuantizedWeight?
        let quantize = try best(runs) {
            weight = try values.withUnsafeBufferPointer {
                try QuantizedWeight.quantize(
                    $0, shape: [side, side], originalDType: .f32, type: .nf4, blockSize: 64,
                    doubleQuantization: true, tensor: "bench", file: "bench")
            }
        }
        let plain = try best(runs) {
            _ = try values.withUnsafeBufferPointer {
                try QuantizedWeight.quantize(
                    $0, shape: [side, side], originalDType: .f32, type: .nf4, blockSize: 64,
                    doubleQuantization: false, tensor: "bench", file: "bench")
            }
        }
        var out = [Float](repeating: 0, count: side * side)
        let scales = weight!.blockAbsmax()
        let dequantize = best(runs) {
            out.withUnsafeMutableBufferPointer { weight!.dequantize(elements: 0..<(side * side), blockAbsmax: scales, into: $0) }
        }
        print(
            #"{"job":"quantize-matrix","values":\#(side * side),"quantize_seconds":\#(quantize),"#
                + #""plain_quantize_seconds":\#(plain),"dequantize_seconds":\#(dequantize)}"#)
    case "gemm":
        // MiniLM's GEMM shapes (M = 16×128 tokens): ours (OpenBLAS single-threaded per core,
        // rows split across cores) against OpenBLAS running its own threads.
        let runs = Int(path) ?? 20
        var results: [String] = []
        for (m, n, k) in [(2048, 384, 384), (2048, 1536, 384), (2048, 384, 1536)] {
            let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            let flops = 2.0 * Double(m * n * k)
            let ours = a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        best(runs) {
                            Matmul.gemm(
                                .none, .transposed, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                c: cp.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            BLAS.setThreads(Parallel.workers)
            let theirs = a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        best(runs) {
                            BLAS.sgemm(
                                .none, .transposed, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                c: cp.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            BLAS.setThreads(1)
            results.append(
                #"{"m":\#(m),"n":\#(n),"k":\#(k),"ours_gflops":\#(flops / ours / 1e9),"#
                    + #""openblas_gflops":\#(flops / theirs / 1e9)}"#)
        }
        print(#"{"job":"gemm","core":"\#(BLAS.coreName)","shapes":[\#(results.joined(separator: ","))]}"#)
    case "compress":
        // The registry's tensor codec on every tensor of a file, against plain zstd (level 3) of
        // the whole file: sizes, and encode/decode throughput in raw bytes per second.
        let runs = arguments.count > 3 ? Int(arguments[3])! : 5
        let file = try SafeTensorsFile(path: path)
        let tensors = file.tensors.map { info in (file.view(of: info).dtype, Array(file.view(of: info).bytes.bindMemory(to: UInt8.self))) }
        let raw = tensors.reduce(0) { $0 + $1.1.count }
        var blobs: [[UInt8]] = []
        let encodeTime = best(runs) { blobs = tensors.map { TensorCodec.encode($0.1, dtype: $0.0) } }
        var sink = 0
        let decodeTime = try best(runs) {
            for (blob, tensor) in zip(blobs, tensors) { sink &+= try TensorCodec.decode(blob, maxLength: tensor.1.count).count }
        }
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var plain = [UInt8](repeating: 0, count: ZSTD_compressBound(whole.count))
        let plainSize = ZSTD_compress(&plain, plain.count, whole, whole.count, 3)
        let dtypes = Set(tensors.map { $0.0.rawValue }).sorted().joined(separator: "+")
        // The same bytes as one stream per dtype, as a store can keep a whole adapter.
        var joined = 0
        for dtype in Set(tensors.map(\.0)) {
            joined += TensorCodec.encode(tensors.filter { $0.0 == dtype }.flatMap(\.1), dtype: dtype).count
        }
        print(#"{"job":"compress-joined","ours_bytes":\#(joined)}"#)
        print(
            #"{"job":"compress","dtypes":"\#(dtypes)","file_bytes":\#(whole.count),"raw_bytes":\#(raw),"#
                + #""ours_bytes":\#(blobs.reduce(0) { $0 + $1.count }),"zstd_bytes":\#(plainSize),"#
                + #""encode_seconds":\#(encodeTime),"decode_seconds":\#(decodeTime),"sink":\#(sink)}"#)
    case "quantize-model":
        let output = arguments[3]
        let runs = arguments.count > 4 ? Int(arguments[4])! : 3
        let time = try best(runs) {
            try? FileManager.default.removeItem(atPath: output)
            _ = try ModelQuantizer.quantize(modelFolder: path, outputFolder: output, options: ModelQuantizer.Options())
        }
        print(#"{"job":"quantize-model","seconds":\#(time)}"#)
    case "allreduce":
        // The in-place f32 sum training does once per step, through the same communicator.
        let communicator = try DistributedMode.mpi.communicator()
        let floats = Int(path)!
        let runs = arguments.count > 3 ? Int(arguments[3])! : 200
        var buffer = [Float](repeating: 1, count: floats)
        var times: [Double] = []
        for run in 0..<(runs + 10) {
            communicator.barrier()
            let time = seconds { communicator.allReduceSum(&buffer) }
            if run >= 10 { times.append(time) }
        }
        // Every rank's median, then the slowest rank's: what a step waits for.
        var median = [times.sorted()[times.count / 2]]
        communicator.allReduceMax(&median)
        if communicator.isRoot {
            print(#"{"job":"allreduce","ranks":\#(communicator.size),"bytes":\#(4 * floats),"median_seconds":\#(median[0])}"#)
        }
    default:
        FileHandle.standardError.write(Data("tailor-bench: unknown job \(job)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("tailor-bench: \(error)\n".utf8))
    exit(1)
}
