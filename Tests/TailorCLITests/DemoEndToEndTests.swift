import Foundation
import Testing

@Suite struct DemoEndToEndTests {
    /// The main job on the tiny model: every step runs and checks itself (the demo exits non-zero
    /// when the mixed batch or the deployed merge disagree with the adapters run alone).
    @Test func demoRunsTheMainJobOnTheTinyModel() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run([
            "demo", "--model", TailorProcess.fixture("tiny-bert"), "--data", TailorProcess.fixture(""),
            "--output", folder.file("demo"), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(result.json)
        #expect(json["nf4_weights"] as? Int == 14)
        let accuracy = try #require(json["accuracy"] as? [String: Double])
        #expect(Set(accuracy.keys) == ["sentiment", "topic"] && accuracy.values.allSatisfy { $0 >= 0.5 })
        #expect(json["diff_modules"] as? Int == 4)
        #expect((json["deploy_max_logit_difference"] as? Double ?? 1) < 1e-4)
        #expect((json["serve_max_difference"] as? Double ?? 1) < 1e-5)
        #expect(json["answers"] as? Int == 6)
        for path in [
            "base-nf4/model.safetensors", "registry/index.sqlite", "deploy/model.safetensors", "sentiment-topic/adapter_config.json",
        ] {
            #expect(FileManager.default.fileExists(atPath: folder.file("demo/" + path)), "\(path)")
        }
    }
}
