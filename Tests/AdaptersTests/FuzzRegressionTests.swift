import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Adapters
@testable import Models

/// Adapter files that trapped a reader (see Fuzz/README.md).
@Suite struct AdaptersFuzzRegressionTests {
    /// A valid tensor of shape `[2^62, 2, 0]` trapped building its Tensor (the shape's partial
    /// product overflowed); it is an empty tensor like any other with a zero dimension.
    @Test func zeroDimensionAfterDimensionsWhoseProductOverflowsAnInt() throws {
        let weights = [UInt8](
            try Data(
                contentsOf: URL(
                    fileURLWithPath: FixturePaths.path(
                        "fuzz-regressions/safetensors-header/zero-dimension-after-overflowing-dims.safetensors"))))
        let config = Array(#"{"peft_type": "LORA", "r": 2, "target_modules": ["query"]}"#.utf8)
        let files = try AdapterFiles(files: ["adapter_config.json": config, "adapter_model.safetensors": weights], label: "adapter")
        let tensor = try #require(try files.tensors()["t"])
        #expect(tensor.count == 0 && tensor.shape == [1 << 62, 2, 0])
    }

    /// num_virtual_tokens near 2^59 overflowed `count × width` when checking prompt_embeddings
    /// (found by review): refused before any size is computed, since it passes the positions.
    @Test(arguments: [("prompt", false), ("prefix", true)])
    func virtualTokenCountWhoseTableSizeOverflowsIsRefused(method: String, llama: Bool) throws {
        let name = "\(method)-tuning-virtual-token-overflow.json"
        let config = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("fuzz-regressions/adapter-config/" + name))))
        let fixture = "peft/tiny-\(llama ? "llama" : "bert")-\(method)/adapter_model.safetensors"
        let weights = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path(fixture))))
        let files = try AdapterFiles(files: ["adapter_config.json": config, "adapter_model.safetensors": weights], label: "adapter")
        let base: AdaptableModel = llama ? try PEFTInteropTests.llama() : try PEFTInteropTests.bert()
        #expect { _ = try PEFTAdapterFolder.loadAny(files, into: base) } throws: { error in
            error is AdapterError && "\(error)".contains("num_virtual_tokens 576460752303423488 must be between 1 and")
        }
    }
}
