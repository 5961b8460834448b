import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing

/// GPT-2 holds its Conv1D weights transposed (Linear layout); whatever writes a model folder
/// (a full fine-tune, `deploy`) must give transformers back the `[in, out]` layout it stores.
@Suite struct GPT2CheckpointLayoutTests {
    @Test func mergedParametersOfAPlainGPT2AreItsCheckpoint() throws {
        let folder = FixturePaths.path("models/tiny-gpt2")
        let model = try ModelLoader.load(folder: folder, head: .causalLM)
        let checkpoint = try SafeTensorsFile(path: folder + "/model.safetensors")
        let merged = try BaseMerge.mergedParameters(of: model)
        #expect(merged.count == checkpoint.tensorNames.filter { $0 != "lm_head.weight" }.count)
        for (name, values, shape) in merged {
            let stored = try checkpoint.tensor(name)
            #expect(shape == stored.shape, "\(name)")
            #expect(values == (try stored.floats()), "\(name)")
        }
    }
}
