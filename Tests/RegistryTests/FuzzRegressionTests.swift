import Foundation
import Registry
import TailorTestSupport
import Testing

/// Blobs that trapped TensorCodec.decode (fixtures/fuzz-regressions/registry-blob, see
/// Fuzz/README.md) are refused with RegistryError.
@Suite struct RegistryFuzzRegressionTests {
    /// A raw length of 2^63 or more did not fit an Int (found by fuzzing).
    @Test func lengthBeyondIntMaxIsRefused() throws {
        let path = FixturePaths.path("fuzz-regressions/registry-blob/length-beyond-int-max.blob")
        let blob = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(throws: RegistryError.self) { _ = try TensorCodec.decode(blob, maxLength: 1 << 20) }
    }
}
