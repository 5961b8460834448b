import Foundation
import SafeTensors
@_exported import TailorTestSupport

/// Paths of the committed goldens, found relative to this source file so tests run from any
/// working directory.
enum Fixtures {
    static func path(_ relative: String) -> String { FixturePaths.path(relative) }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    /// The deterministic tensor bytes of `Scripts/reference/safetensors_goldens.py`.
    static func pattern(seed: Int, count: Int, dtype: DType) -> [UInt8] {
        (0..<count).map { k in
            let byte = UInt8(truncatingIfNeeded: seed * 7 + k * 13 + (k >> 8) * 3)
            return dtype == .bool ? byte & 1 : byte
        }
    }
}
