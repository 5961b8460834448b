import Foundation
import SafeTensors
import TailorTestSupport
import Testing
@testable import Adapters

/// Adapter files that trapped a reader (see Fuzz/README.md).
@Suite struct AdaptersFuzzRegressionTests {
    /// A valid tensor of shape `[2^62, 2, 0]` trapped building its Tensor (the shape's partial
    /// product overflowed); it is an empty tensor like any other with a zero dimension.
    @Test func zeroDimensionAfterDimensionsWhoseProductOverflowsAnInt() throws {
        let weights = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path(
            "fuzz-regressions/safetensors-header/zero-dimension-after-overflowing-dims.safetensors"))))
        let config = Array(#"{"peft_type": "LORA", "r": 2, "target_modules": ["query"]}"#.utf8)
        let files = try AdapterFiles(files: ["adapter_config.json": config, "adapter_model.safetensors": weights], label: "adapter")
        let tensor = try #require(try files.tensors()["t"])
        #expect(tensor.count == 0 && tensor.shape == [1 << 62, 2, 0])
    }
}
