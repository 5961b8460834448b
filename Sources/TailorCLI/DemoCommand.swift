import ArgumentParser
import Foundation
import SafeTensors
import Workflows

/// `tailor demo`: ``DemoPipeline`` on the tiny model in `fixtures/` (or a real BERT), printed.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the main job on the tiny model in fixtures/.",
        discussion: """
            Quantizes the base (NF4 + double quantization), trains a LoRA adapter for sentiment \
            and one for topic on the 4-bit base (QLoRA), stores both in a registry (compressed), \
            diffs them, merges them into a new adapter, merges the sentiment adapter into the base \
            as a plain model folder, and answers a batch of requests whose lines name different \
            adapters, checking each answer against that adapter run alone. The tiny model has \
            random weights and learns little; --model ~/.cache/tailor/all-MiniLM-L6-v2 runs the \
            same job on a real model.

            Examples:
              tailor demo
              tailor demo --model ~/.cache/tailor/all-MiniLM-L6-v2 --lr 1e-3 --epochs 2 --output /tmp/demo
            """
    )

    @Option(help: "The base model folder (a BERT).") var model = "fixtures/tiny-bert"
    @Option(help: "The fixtures folder with sentiment/ and topic/ data.") var data = "fixtures"
    @Option(help: "Folder for the demo's outputs (replaced).") var output = ".demo-output"
    @Option(help: "Training epochs per adapter.") var epochs: Double = 8
    @Option(help: "Peak learning rate (the tiny random model needs a high one; MiniLM trains at 1e-3).") var lr: Float = 2e-2
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            let pipeline = DemoPipeline(model: model, data: data, output: output, epochs: epochs, learningRate: lr)
            let progress = TrainingProgress(quiet: outputOptions.json)
            let report = try pipeline.run(say: { line in if !outputOptions.json { print(line) } }, training: progress.show)
            if outputOptions.json { try outputOptions.emit(report) }
        }
    }
}
