import Foundation
import SafeTensors
import TailorTestSupport
import Testing
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

extension ParityGolden {
    /// The loss, every parameter's gradient and ten AdamW steps (lr 1e-3, weight decay 0.01, as
    /// model_goldens.py takes them) against the golden. `loss` builds the loss on a fresh training
    /// graph; `reference` gives a parameter's golden gradient in our layout (the file's by
    /// default); gradients are compared relative to their largest value, or to `floor` when that
    /// is smaller (a gradient that is rounding noise around 0).
    func expectLossGradientsAndAdamW(
        _ parameters: [(String, Tensor)], floor: Float = 1e-6, reference: ((String) throws -> [Float])? = nil,
        loss: (Graph) -> Tensor, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let graph = Graph(recording: true, training: true)
        let first = loss(graph)
        #expect(abs(first.values[0] - (try floats("loss"))[0]) < 1e-5, "loss \(first.values[0])", sourceLocation: sourceLocation)
        graph.backward(first)
        #expect(
            Set(parameters.map { "grad." + $0.0 }) == Set(file.tensorNames.filter { $0.hasPrefix("grad.") }), sourceLocation: sourceLocation
        )
        for (name, parameter) in parameters {
            let expected = try reference?(name) ?? floats("grad." + name)
            let (difference, scale) = maxDifference(parameter.gradValues, expected)
            #expect(
                difference <= 1e-4 * max(scale, floor), "\(name): gradient differs by \(difference) (max \(scale))",
                sourceLocation: sourceLocation)
        }
        parameters.forEach { $0.1.zeroGrad() }
        let optimizer = AdamW(parameters: parameters.map(\.1), learningRate: 1e-3, weightDecay: 0.01)
        var losses: [Float] = []
        for _ in 0..<10 {
            optimizer.zeroGrad()
            let graph = Graph(recording: true, training: true)
            let step = loss(graph)
            losses.append(step.values[0])
            graph.backward(step)
            optimizer.update()
        }
        let (difference, _) = maxDifference(losses, try floats("adamw_losses"))
        #expect(difference < 1e-4, "losses \(losses) differ by \(difference)", sourceLocation: sourceLocation)
    }
}
