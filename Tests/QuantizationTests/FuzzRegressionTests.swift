import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Quantization

/// Quant states that trapped the 4-bit readers (fixtures/fuzz-regressions/quant-state, see
/// Fuzz/README.md) are refused with a QuantizationError naming the tensor.
@Suite struct QuantizationFuzzRegressionTests {
    static func state(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The shape's product overflowed where BitsAndBytesSummary and BitsAndBytesLayout.read
    /// multiply it out (found by fuzzing).
    @Test func shapeWhoseProductOverflowsIsRefused() throws {
        let path = FixturePaths.path("fuzz-regressions/quant-state/shape-product-overflow.json")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect {
            _ = try QuantState(jsonBytes: bytes, file: "model.safetensors", tensor: "w.quant_state.bitsandbytes__nf4")
        } throws: { error in
            "\(error)".contains("w.quant_state.bitsandbytes__nf4") && "\(error)".contains("more elements than any file can hold")
        }
        // The same through a checkpoint, as `tailor inspect` reads it.
        let folder = TemporaryFolder()
        let state = TensorData(name: "w.quant_state.bitsandbytes__nf4", dtype: .u8, shape: [bytes.count], bytes: bytes)
        try SafeTensorsWriter.write([state], to: folder.file("model.safetensors"))
        #expect(throws: QuantizationError.self) { _ = try BitsAndBytesSummary(Checkpoint.open(folder.path)) }
    }

    /// A zero after overflowing dimensions: the product is 0 but readers multiply in order.
    @Test func partialProductOverflowIsRefused() {
        let text = #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [4611686018427387904, 4, 0]}"#
        #expect(throws: QuantizationError.self) { _ = try QuantState(jsonBytes: Self.state(text), file: "f", tensor: "t") }
    }

    /// A nested block size near Int.max overflowed the nested block count (found by review).
    @Test func hugeNestedBlockSizeIsRefused() throws {
        let text =
            #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [200], "#
            + #""nested_blocksize": 9223372036854775807, "nested_offset": 0.5}"#
        #expect(throws: QuantizationError.self) { _ = try QuantState(jsonBytes: Self.state(text), file: "f", tensor: "t") }
        let fine =
            #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [200], "#
            + #""nested_blocksize": 256, "nested_offset": 0.5}"#
        #expect(try QuantState(jsonBytes: Self.state(fine), file: "f", tensor: "t").nestedBlockSize == 256)
    }
}
