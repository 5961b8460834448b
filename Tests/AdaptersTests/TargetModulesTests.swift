import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Adapters
@testable import Models

/// target_modules / exclude_modules / layers_to_transform select the modules PEFT 0.21.2 selects
/// (fixtures/peft/target-modules.json).
@Suite struct TargetModulesTests {
    static func targets(_ value: Any?) -> ModuleMatcher.Targets? {
        switch value {
        case let list as [String]: return .names(list)
        case let text as String: return text == "all-linear" ? .allLinear : .regex(text)
        default: return nil
        }
    }

    @Test func sameModulesAsPEFT() throws {
        let root =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("peft/target-modules.json"))))
            as! [String: Any]
        let cases = root["cases"] as! [String: [[String: Any]]]
        let models: [String: AdaptableModel] = ["bert": try PEFTInteropTests.bert(), "llama": try PEFTInteropTests.llama()]
        var compared = 0
        for (name, list) in cases {
            let model = models[name]!
            for entry in list {
                let config = entry["config"] as! [String: Any]
                let matcher = ModuleMatcher(
                    targets: Self.targets(config["target_modules"])!, exclude: Self.targets(config["exclude_modules"]),
                    layersToTransform: config["layers_to_transform"] as? [Int])
                let ours = matcher.select(model.linearModuleNames, outputModule: model.outputModuleName).sorted()
                if let expected = entry["modules"] as? [String] {
                    #expect(ours == expected, "\(name) \(config)")
                    compared += 1
                } else if let error = (entry["modules"] as? [String: String])?["error"], error.contains("not found") {
                    #expect(ours.isEmpty, "\(name) \(config): PEFT finds nothing, we find \(ours)")
                    compared += 1
                }
                // Otherwise PEFT refused a regex that also matches a non-Linear module (e.g.
                // BertAttention); Tailor sees Linear modules only and adapts those.
            }
        }
        #expect(compared >= 12)
    }
}
