import Adapters
import ArgumentParser
import Foundation
import SafeTensors
import Workflows

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two adapters module by module.",
        discussion: """
            For each module either adapter changes: the norms of both updates ΔW (s·B·A for \
            LoRA; for DoRA, PiSSA and IA3 the adapted weight less the base weight, which needs \
            --model), the norm \
            of their difference, their cosine similarity, and the subspace similarity of their top \
            singular directions (the LoRA paper's measure: 1 = same directions, 0 = orthogonal); \
            then a line per module role. Adapters are folders or registry references.

            Examples:
              tailor diff runs/sentiment runs/sentiment-r16
              tailor diff sentiment@1 sentiment@2 --json
              tailor diff runs/dora runs/ia3 --model fixtures/tiny-bert
            """
    )

    @Argument(help: "The first adapter (folder or registry reference).") var a: String
    @Argument(help: "The second adapter.") var b: String
    @Option(help: "The base model folder (needed for DoRA, PiSSA and IA3 adapters).") var model: String?
    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors {
            // Without --model a diff reads only the adapters' own files: nothing to check them against.
            let resolver = AdapterResolver(model: model ?? "", registryRoot: registryOptions.root, force: model == nil)
            let diff = try AdapterDiff(
                AdapterUpdates(resolver.resolve(.init(reference: a)).files, base: model),
                AdapterUpdates(resolver.resolve(.init(reference: b)).files, base: model))
            if outputOptions.json {
                try outputOptions.emit(diff)
            } else {
                for change in diff.configDifferences { print("config \(change.key): \(change.a) -> \(change.b)") }
                print("module\t|ΔW a|\t|ΔW b|\t|a-b|\tcosine\tsubspace")
                for m in diff.modules {
                    print(
                        String(
                            format: "%@\t%.4g\t%.4g\t%.4g\t%.3f\t%.3f",
                            m.name, m.normA, m.normB, m.normDifference, m.cosine, m.subspaceSimilarity))
                }
                for s in diff.summary {
                    print(
                        String(
                            format: "%@ (%d modules): mean cosine %.3f, mean subspace similarity %.3f",
                            s.kind, s.modules, s.cosine, s.similarity))
                }
            }
        }
    }
}
