import Foundation
import Models
import TailorTestSupport
import Testing
import Tokenizers

@testable import Training

/// Summarization examples: a causal LM learns the summary after a prompt (a long text is cut
/// inside the prompt, never the summary); records take text/summary or source/target.
@Suite struct SummarizationTests {
    @Test func aCausalLMLearnsTheWholeSummaryWhateverTheTextsLength() throws {
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-llama"), task: .summarization, method: .full, loraConfig: nil, maxLength: 48, seed: 0)
        #expect(model.model.head == .causalLM)
        let long = Example(text: String(repeating: "The river ran past the mill. ", count: 40), target: "A river.")
        let short = Example(text: "Tiny.", target: "A river.")
        let (batch, targets) = model.encode([long, short])
        #expect(batch.length <= 48)
        let eos = try #require(model.model.eosTokenIds.first)
        let summary = model.tokenizer.encode(" A river.", addSpecialTokens: false).ids + [eos]
        let end = model.tokenizer.encode(SummarizationTask.promptEnd, addSpecialTokens: false).ids
        for row in 0..<2 {
            let ids = Array(batch.ids[(row * batch.length)..<((row + 1) * batch.length)])
            let labels = Array(targets[(row * batch.length)..<((row + 1) * batch.length)])
            #expect(labels.filter { $0 >= 0 } == summary, "row \(row)")
            let real = zip(ids, batch.mask[(row * batch.length)..<((row + 1) * batch.length)]).filter(\.1).map(\.0)
            #expect(Array(real.suffix(summary.count + end.count)) == end + summary, "row \(row)")
        }
    }

    @Test func recordsTakeEitherFieldNames() throws {
        let folder = TemporaryFolder()
        let lines = [#"{"text": "A long text.", "summary": "Short."}"#, #"{"source": "Input.", "target": "Output."}"#]
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: folder.file("d.jsonl")))
        let data = try Dataset.load(folder.file("d.jsonl"), task: .summarization)
        #expect(data.examples.map(\.text) == ["A long text.", "Input."] && data.examples.map(\.target) == ["Short.", "Output."])
        try Data(#"{"text": "no summary"}"#.utf8).write(to: URL(fileURLWithPath: folder.file("bad.jsonl")))
        #expect(throws: TrainingError.self) { try Dataset.load(folder.file("bad.jsonl"), task: .summarization) }
    }
}
