import Foundation
import SafeTensors

/// Paths of the committed goldens, found relative to this source file so tests run from any
/// working directory.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

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

/// A fresh temporary folder, removed when the value is released.
final class TemporaryFolder {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "tailor-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
