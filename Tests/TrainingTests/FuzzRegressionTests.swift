import Foundation
import TailorTestSupport
import Testing

@testable import Training

/// Data files that trapped Dataset.load (fixtures/fuzz-regressions/dataset, see Fuzz/README.md)
/// are refused with a TrainingError naming the file.
@Suite struct TrainingFuzzRegressionTests {
    /// A CSV header naming a column twice trapped building each row's dictionary (found by fuzzing).
    @Test func csvHeaderWithARepeatedColumnIsRefused() {
        let path = FixturePaths.path("fuzz-regressions/dataset/csv-duplicate-header.csv")
        for task in [Dataset.Task.classification, .causalLM] {
            #expect {
                _ = try Dataset.load(path, task: task)
            } throws: { error in
                error is TrainingError && "\(error)".contains(path) && "\(error)".contains("\"text\" twice")
            }
        }
    }
}
