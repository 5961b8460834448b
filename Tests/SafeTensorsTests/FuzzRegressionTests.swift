import Foundation
import Testing

@testable import SafeTensors

/// Inputs that trapped a reader (fixtures/fuzz-regressions/, see Fuzz/README.md): each now
/// gives the reader's typed error or a valid result, never a crash.
@Suite struct SafeTensorsFuzzRegressionTests {
    /// `[2^62, 2, 0]` is valid (the crate multiplies in u64: 2^63, then 0) but its partial product
    /// overflowed `elementCount`, trapping every reader that sized a buffer from it.
    @Test func zeroDimensionAfterDimensionsWhoseProductOverflowsAnInt() throws {
        let bytes = [UInt8](
            try Data(
                contentsOf: URL(
                    fileURLWithPath: Fixtures.path(
                        "fuzz-regressions/safetensors-header/zero-dimension-after-overflowing-dims.safetensors"))))
        let file = try SafeTensorsFile(bytes: bytes)
        let info = try #require(file.tensors.first)
        #expect(info.shape == [1 << 62, 2, 0])
        #expect(info.elementCount == 0)
        #expect(try file.tensor("t").floats() == [])
    }
}
