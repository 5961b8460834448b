import Foundation
import Quantization
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// 4-bit bases: the tiled NF4 matmul against dequantize-then-matmul, and a model loaded from a
/// bitsandbytes folder against the same model with its weights dequantized.
@Suite struct QuantizedModelTests {
    /// 7 rows take the fused decode product, 9 the tiled dequantize-and-GEMM path.
    @Test(arguments: [7, 9]) func quantizedLinearEqualsDequantizeThenMatmul(rows: Int) throws {
        var rng = RandomGenerator(seed: 5)
        let (out, inFeatures) = (600, 96)  // > one tile of 256 rows, partial last tile
        let values = (0..<(out * inFeatures)).map { _ in rng.nextNormal() * 0.05 }
        let weight = try values.withUnsafeBufferPointer {
            try QuantizedWeight.quantize(
                $0, shape: [out, inFeatures], originalDType: .f32, type: .nf4, blockSize: 64,
                doubleQuantization: true, tensor: "w", file: "test")
        }
        let quantized = QuantizedLinearWeight(weight, name: "w")
        let dense = Tensor(weight.dequantized(), shape: [out, inFeatures])
        let bias = Tensor((0..<out).map { _ in rng.nextNormal() }, shape: [out])
        let x1 = Tensor((0..<(rows * inFeatures)).map { _ in rng.nextNormal() }, shape: [rows, inFeatures], requiresGrad: true)
        let x2 = Tensor(x1.values, shape: x1.shape, requiresGrad: true)
        let g1 = Graph(), g2 = Graph()
        let y1 = g1.quantizedLinear(x1, quantized, bias)
        let y2 = g2.linear(x2, dense, bias)
        #expect(maxDifference(y1.values, y2.values).difference < 1e-5)
        // Input gradient through the frozen 4-bit weight.
        let seed = (0..<y1.count).map { _ in rng.nextNormal() }
        for (graph, y) in [(g1, y1), (g2, y2)] {
            let g = y.gradBuffer()
            for i in 0..<y.count { g[i] = seed[i] }
            graph.backward(Tensor(zeros: []))
        }
        #expect(maxDifference(x1.gradValues, x2.gradValues).difference < 1e-5)
    }

    @Test func llamaFromA4BitFolderMatchesItsDequantizedWeights() throws {
        let quantizedFolder = FixturePaths.path("tiny-llama-nf4")
        let config = try LlamaConfig(ConfigReader(path: quantizedFolder + "/config.json"))
        let fourBit = try Llama(config: config, weights: WeightStore(Checkpoint.open(quantizedFolder)), head: .causalLM, trainable: false)
        guard case .quantized = fourBit.layers[0].qProj.weight else {
            Issue.record("q_proj should stay 4-bit")
            return
        }
        let folder = TemporaryFolder()
        _ = try ModelDequantizer.dequantize(folder: quantizedFolder, outputFolder: folder.path, dtype: .f32)
        let dense = try Llama(config: config, weights: WeightStore(Checkpoint.open(folder.path)), head: .causalLM, trainable: false)
        let batch = TokenBatch(
            ids: [[1, 20, 30, 40, 50, 60], [1, 7, 8, 9, 0, 0]],
            mask: [[true, true, true, true, true, true], [true, true, true, true, false, false]])
        let a = fourBit.logits(Graph(recording: false), batch).values
        let b = dense.logits(Graph(recording: false), batch).values
        #expect(maxDifference(a, b).difference < 1e-4)
    }
}
