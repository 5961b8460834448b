import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Quantization

/// Reading 4-bit checkpoints stored in other ways than transformers' default.
@Suite struct LayoutReadingTests {
    static let source = try! SafeTensorsFile(path: FixturePaths.path("tiny-bert-nf4/model.safetensors"))
    static let weight = "bert.encoder.layer.1.intermediate.dense.weight"

    static func rewritten(_ edit: (inout [TensorData]) -> Void) throws -> (TemporaryFolder, Checkpoint) {
        let folder = TemporaryFolder()
        var tensors = source.tensors.map { TensorData(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: source.view(of: $0).data) }
        edit(&tensors)
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("model.safetensors"))
        try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-bert-nf4/config.json"), toPath: folder.file("config.json"))
        return (folder, try Checkpoint.open(folder.path))
    }

    @Test(arguments: [DType.bf16, .f32, .i8])
    func otherStorageDTypesHoldTheSameBytes(storage: DType) throws {
        let (_, checkpoint) = try Self.rewritten { tensors in
            let i = tensors.firstIndex { $0.spec.name == Self.weight }!
            let bytes = tensors[i].bytes
            tensors[i] = TensorData(name: Self.weight, dtype: storage, shape: [bytes.count * 8 / storage.bitSize, 1], bytes: bytes)
        }
        let original = try BitsAndBytesLayout.read(Self.weight, from: Checkpoint.open(FixturePaths.path("tiny-bert-nf4")))
        let reread = try BitsAndBytesLayout.read(Self.weight, from: checkpoint)
        #expect(reread.dequantized() == original.dequantized())
    }

    @Test func layoutWithoutQuantStateIsRefusedWithTheReason() throws {
        let (folder, _) = try Self.rewritten { tensors in
            tensors.removeAll { $0.spec.name == Self.weight + ".quant_state.bitsandbytes__nf4" }
        }
        #expect {
            _ = try ModelDequantizer.dequantize(folder: folder.path, outputFolder: folder.file("out"), dtype: nil)
        } throws: { error in
            let text = "\(error)"
            return text.contains(Self.weight) && text.contains("0.41.3")
        }
    }
}
