import Foundation
import SafeTensors
import TailorTestSupport
import TrainingCore

@testable import Models

/// The transformers/PyTorch state dumped by `Scripts/reference/model_goldens.py` for one model.
struct ParityGolden {
    let file: SafeTensorsFile

    init(_ name: String) throws {
        file = try SafeTensorsFile(path: FixturePaths.path("models/\(name)-parity.safetensors"))
    }

    func integers(_ name: String) throws -> [Int] {
        let view = try file.tensor(name)
        precondition(view.dtype == .i64)
        return view.data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
    }

    func floats(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
    func shape(_ name: String) throws -> [Int] { try file.tensor(name).shape }

    func batch(tokenTypes: Bool) throws -> TokenBatch {
        let shape = try shape("input_ids")
        let (b, t) = (shape[0], shape[1])
        let ids = try integers("input_ids")
        let mask = try integers("attention_mask").map { $0 != 0 }
        let types = tokenTypes ? try integers("token_type_ids") : [Int](repeating: 0, count: b * t)
        return TokenBatch(
            ids: (0..<b).map { Array(ids[($0 * t)..<(($0 + 1) * t)]) },
            mask: (0..<b).map { Array(mask[($0 * t)..<(($0 + 1) * t)]) },
            tokenTypes: (0..<b).map { Array(types[($0 * t)..<(($0 + 1) * t)]) })
    }
}

/// Largest absolute difference, and the largest reference magnitude, of two equal-length arrays.
func maxDifference(_ a: [Float], _ b: [Float]) -> (difference: Float, scale: Float) {
    precondition(a.count == b.count, "\(a.count) vs \(b.count)")
    return (zip(a, b).map { abs($0 - $1) }.max() ?? 0, b.map { abs($0) }.max() ?? 0)
}
