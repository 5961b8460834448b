import Collectives
import Foundation
import Models
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Training

/// What makes data-parallel training equal to one process, checked without MPI: a batch's loss
/// and gradients are the sums of its shares' when each share's loss is weighted by its part of
/// the batch's loss terms, for every task's loss (means over rows, labelled tokens, shifted
/// tokens, virtual tokens, windows, decoder tokens), with shares of every size, empty ones too.
@Suite struct LossWeightingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var task: Dataset.Task
        var folder: String
        var data: String
        var method: TaskModel.Method = .lora
        var maxLength = 32
        var testDescription: String { "\(task.rawValue) \(method.rawValue) on \(folder)" }
    }

    static let cases = [
        Case(task: .classification, folder: "tiny-bert", data: "sentiment/train.jsonl"),
        Case(task: .tokenClassification, folder: "models/tiny-bert-ner", data: "tasks/ner/train.jsonl"),
        // Long contexts in short windows: several rows per example, the span loss a mean over rows.
        Case(task: .questionAnswering, folder: "models/tiny-bert-qa", data: "tasks/qa/train.jsonl", maxLength: 24),
        Case(task: .causalLM, folder: "tiny-llama", data: "tasks/instructions/prompt-completion.jsonl"),
        // Virtual tokens move the causal shift: the first real token is predicted too.
        Case(task: .causalLM, folder: "tiny-llama", data: "tasks/instructions/prompt-completion.jsonl", method: .prompt),
        Case(task: .summarization, folder: "models/tiny-t5", data: "tasks/summarization/train.jsonl"),
    ]

    @Test(arguments: cases)
    func sharesWeightedByLossTermsAddUpToTheBatch(_ test: Case) throws {
        var data = try Dataset.load(FixturePaths.path(test.data), task: test.task)
        data.examples = Array(data.examples.prefix(5))
        let lora = LoRAConfig(r: 2, alpha: 4, targets: .allLinear)
        let model = try TaskModel(
            folder: FixturePaths.path(test.folder), task: test.task, method: test.method, loraConfig: lora,
            labels: test.task.hasLabels ? data.labels : nil, maxLength: test.maxLength, seed: 5, virtualTokens: 2)
        model.docStride = 8
        // B starts at zero: move it so that every LoRA gradient is non-zero.
        for (_, tensor) in model.trainable { for index in 0..<tensor.count { tensor.data[index] += 0.01 * Float(index % 7) } }

        let whole = Self.lossAndGradients(model, [data.examples], totalTerms: nil)
        #expect(whole.terms > data.examples.count / 2, "a batch has loss terms")
        for size in [2, 3, 6] {
            let shares = (0..<size).map { Array(data.examples[Shares.share(of: data.examples.count, rank: $0, size: size)]) }
            let parts = Self.lossAndGradients(model, shares, totalTerms: whole.terms)
            #expect(parts.terms == whole.terms, "\(size) shares")
            #expect(abs(parts.loss - whole.loss) <= 1e-5 * abs(whole.loss), "\(size) shares: \(parts.loss) vs \(whole.loss)")
            let scale = whole.gradients.map { abs($0) }.max() ?? 0
            #expect(scale > 0)
            let worst = zip(parts.gradients, whole.gradients).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(size) shares: gradients differ by \(worst) of \(scale)")
        }
    }

    /// The batch's loss and every trainable gradient end to end, summed over `shares` as ranks
    /// would: each share's loss weighted by its terms' part of `totalTerms` (1 for one share).
    static func lossAndGradients(
        _ model: TaskModel, _ shares: [[Example]], totalTerms: Int?
    ) -> (loss: Double, terms: Int, gradients: [Float]) {
        for (_, tensor) in model.trainable { tensor.zeroGrad() }
        let encoded = shares.filter { !$0.isEmpty }.map { model.encode($0) }
        let terms = encoded.map { model.lossTerms($0.0, targets: $0.targets) }
        let total = totalTerms ?? terms.reduce(0, +)
        var loss = 0.0
        for ((batch, targets), count) in zip(encoded, terms) {
            let graph = Graph(recording: true, training: false)
            let value = model.loss(graph, batch, targets: targets).loss
            let weight = Double(count) / Double(total)
            loss += Double(value.values[0]) * weight
            graph.backward(value, seed: Float(weight))
        }
        let gradients = model.trainable.flatMap { _, tensor in
            tensor.grad.map { Array(UnsafeBufferPointer(start: $0, count: tensor.count)) } ?? [Float](repeating: 0, count: tensor.count)
        }
        return (loss, terms.reduce(0, +), gradients)
    }
}
