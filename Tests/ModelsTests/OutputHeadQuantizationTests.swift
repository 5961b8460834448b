import Quantization
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// `--quantize-head`: the output head becomes the NF4 weight that quantizing it whole (without
/// double quantization) gives, byte for byte, however many bands it is quantized in; logits move
/// by about NF4's error and no more.
@Suite struct OutputHeadQuantizationTests {
    @Test(arguments: [("f32", 1 << 22), ("f32", 64 * 5), ("bf16", 64 * 3), ("bf16", 1)])
    func headEqualsWholeQuantization(dtype: String, bandElements: Int) throws {
        let scratch = TemporaryFolder()
        let folder = dtype == "bf16" ? try BF16InPlaceTests.bf16Llama(in: scratch) : FixturePaths.path("tiny-llama")
        let model = try #require(try ModelLoader.loadCausalLM(folder: folder) as? Llama)
        let original = try #require(model.lmHead)
        let values = original.weight.denseValues()
        try model.quantizeOutputHead(.nf4, bandElements: bandElements)
        guard case .quantized(let head) = model.lmHead?.weight else {
            Issue.record("the head should be 4-bit")
            return
        }
        let whole = try values.withUnsafeBufferPointer {
            try QuantizedWeight.quantize(
                $0, shape: [original.outFeatures, original.inFeatures], originalDType: dtype == "bf16" ? .bf16 : .f32, type: .nf4,
                blockSize: 64, doubleQuantization: false, tensor: "lm_head.weight", file: folder)
        }
        #expect(head.weight.packed == whole.packed && head.weight.absmax == whole.absmax && head.weight.shape == whole.shape)
        if case .quantized = model.embedTokens { Issue.record("the input table must stay as stored") }
        let ids = [3, 17, 200, 5]
        let logits = model.step(ids, cache: model.makeCache(capacity: 8)).values
        let reference = try #require(try ModelLoader.loadCausalLM(folder: folder) as? Llama)
        let exact = reference.step(ids, cache: reference.makeCache(capacity: 8)).values
        let scale = exact.map { abs($0) }.max() ?? 1
        let worst = zip(logits, exact).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst > 0 && worst < 0.15 * scale, "logits move by NF4's error: \(worst) of \(scale)")
    }
}
