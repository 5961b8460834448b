import Foundation
import Testing

@Suite struct VerifyEndToEndTests {
    static func malformedCases() throws -> [(name: String, accepted: Bool)] {
        let url = URL(fileURLWithPath: TailorProcess.fixture("safetensors/malformed/verdicts.json"))
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["verdicts"] as! [String: [String: Any]]).map { ($0.key, $0.value["accepted"] as! Bool) }
            .sorted { $0.name < $1.name }
    }

    @Test func everyMalformedFileGetsOneLineAndExitCode1() throws {
        for (name, accepted) in try Self.malformedCases() {
            let path = TailorProcess.fixture("safetensors/malformed/\(name).safetensors")
            let result = try TailorProcess.run(["verify", path])
            if accepted {
                #expect(result.status == 0, "\(name): \(result.stderr)")
            } else {
                #expect(result.status == 1, "\(name)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(name): \(result.stderr)")
                #expect(result.stderr.hasPrefix("tailor: error: \(path): "), "\(name): \(result.stderr)")
                #expect(result.stdout.isEmpty)
            }
        }
    }

    @Test func jsonVerdict() throws {
        let good = try TailorProcess.run(["verify", TailorProcess.fixture("tiny-bert-sharded"), "--json"])
        #expect(good.status == 0)
        #expect(good.json?["ok"] as? Bool == true)
        #expect(good.json?["files"] as? Int == 3)
        let bad = try TailorProcess.run(["verify", TailorProcess.fixture("safetensors/malformed/offsets-gap.safetensors"), "--json"])
        #expect(bad.status == 1)
        #expect(bad.json?["ok"] as? Bool == false)
        #expect((bad.json?["error"] as? [String: Any])?["tensor"] as? String == "b")
    }

    @Test func missingPathAndBrokenIndex() throws {
        let missing = try TailorProcess.run(["verify", "/nonexistent/model.safetensors"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/model.safetensors"))

        let folder = TemporaryFolder()
        for name in ["config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors"] {
            try FileManager.default.copyItem(atPath: TailorProcess.fixture("tiny-bert-sharded/" + name), toPath: folder.file(name))
        }
        try FileManager.default.copyItem(
            atPath: TailorProcess.fixture("tiny-bert-sharded/model.safetensors.index.json"),
            toPath: folder.file("model.safetensors.index.json"))
        let result = try TailorProcess.run(["verify", folder.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("model-00003-of-00003.safetensors"), "names the missing shard: \(result.stderr)")
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: folder.file("model.safetensors.index.json")))
        let broken = try TailorProcess.run(["verify", folder.path])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("model.safetensors.index.json"))
    }
}
