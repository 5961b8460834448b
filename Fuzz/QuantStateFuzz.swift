// bitsandbytes quant states: QuantState(jsonBytes:) (QuantState.swift) on the input, then the
// readers of a 4-bit checkpoint holding it (BitsAndBytesLayout.read, BitsAndBytesSummary as
// `tailor inspect` uses it) and dequantization of what they return.
//
// When the state parses, a checkpoint is written around it with one 4-bit weight "w": the state
// tensor and companions (packed codes, absmax or double-quantized absmax, maps) sized as the
// state describes when that is small, so the reader gets past its size checks. A few bits of
// the input's hash break one companion instead, or store the state under the other type's key.
import Foundation

@testable import Quantization
@testable import SafeTensors

enum Harness {
    static var path = ""

    static func setUp() { path = Fuzz.scratch + "/model.safetensors" }

    static func run(_ bytes: [UInt8]) {
        guard let state = try? QuantState(jsonBytes: bytes, file: "fuzz", tensor: "w") else { return }
        _ = state.jsonText()
        let hash = Fuzz.hash(bytes)
        guard let checkpoint = checkpoint(for: state, stateBytes: bytes, hash: hash) else { return }
        _ = try? BitsAndBytesSummary(checkpoint)
        _ = BitsAndBytesLayout.quantizedWeightNames(in: checkpoint)
        _ = BitsAndBytesLayout.weightsWithoutQuantState(in: checkpoint)
        guard let weight = try? BitsAndBytesLayout.read("w", from: checkpoint) else { return }
        let values = weight.dequantized()
        precondition(values.count == weight.elementCount)
        _ = BitsAndBytesLayout.tensors(for: weight, name: "w")
    }

    /// Elements of `shape`, nil when the product overflows or is too large to build here.
    static func smallCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= 1 << 16 else { return nil }
            count = product
        }
        return count
    }

    static func checkpoint(for state: QuantState, stateBytes: [UInt8], hash: UInt64) -> Checkpoint? {
        let elements = smallCount(state.shape) ?? 3
        let blocks = (elements + state.blockSize - 1) / state.blockSize
        let broken = hash % 16  // 0...5: break one companion; 6: the other type's key
        var tensors: [TensorData] = []
        func add(_ name: String, _ dtype: DType, _ count: Int, index: UInt64) {
            let n = broken == index ? count + 1 : count
            let size = dtype.byteCount(elements: n)!
            tensors.append(
                TensorData(
                    name: name, dtype: dtype, shape: [n],
                    bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(hash >> 8)) }))
        }
        add("w", .u8, (elements + 1) / 2, index: 0)
        tensors.append(
            TensorData(
                name: "w.quant_map", dtype: .f32, shape: [16],
                bytes: BitsAndBytesLayout.floatBytes(state.quantType.codebook.values)))
        if let nestedBlockSize = state.nestedBlockSize {
            add("w.absmax", .u8, blocks, index: 1)
            let nestedBlocks = nestedBlockSize > 1 << 20 ? 1 : (blocks + nestedBlockSize - 1) / nestedBlockSize
            add("w.nested_absmax", .f32, nestedBlocks, index: 2)
            add("w.nested_quant_map", .f32, 256, index: 3)
        } else {
            add("w.absmax", .f32, blocks, index: 4)
        }
        let other: QuantType = state.quantType == .nf4 ? .fp4 : .nf4
        tensors.append(
            TensorData(
                name: "w" + QuantState.keySuffix(broken == 6 ? other : state.quantType), dtype: .u8,
                shape: [stateBytes.count], bytes: stateBytes))
        if broken == 5 { tensors.append(TensorData(name: "v.absmax", dtype: .u8, shape: [1], bytes: [7])) }
        tensors.append(TensorData(name: "bias", dtype: .f32, shape: [2], bytes: [UInt8](repeating: 0, count: 8)))
        guard let file = try? SafeTensorsWriter.serialize(tensors) else { return nil }
        Fuzz.write(file, to: path)
        return try? Checkpoint.open(path)
    }

    /// The quant-state tensors of the fixtures' 4-bit checkpoints, and hand-made variants.
    static func writeSeeds(into folder: String) {
        var seen = Set<[UInt8]>()
        for path in Fuzz.fixtureFiles(suffix: ".safetensors") {
            guard let file = try? SafeTensorsFile(path: path) else { continue }
            for info in file.tensors where info.name.contains(".quant_state.bitsandbytes__") {
                let bytes = file.view(of: info).data
                if seen.insert(bytes).inserted { Fuzz.seed(bytes, named: path + "-" + info.name, into: folder) }
            }
        }
        let extra = [
            #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [3, 5]}"#,
            #"{"quant_type": "fp4", "blocksize": 32, "dtype": "bfloat16", "shape": [7], "nested_blocksize": 256, "#
                + #""nested_dtype": "float32", "nested_offset": 0.0123}"#,
            #"{"quant_type": "nf4", "blocksize": 4096, "dtype": "float16", "shape": [], "nested_blocksize": 2, "nested_offset": 1e-3}"#,
        ]
        for (i, text) in extra.enumerated() { Fuzz.seed(Array(text.utf8), named: "handmade-\(i)", into: folder) }
    }
}
