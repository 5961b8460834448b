import Foundation
import Testing

@testable import TrainingCore

/// Optimizers, schedules and clipping against PyTorch's and transformers' formulas.
@Suite struct OptimizerTests {
    @Test func sgdWithMomentumAndWeightDecay() {
        let p = Tensor([1, -2], shape: [2], requiresGrad: true)
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        var expected: [Double] = [1, -2]
        var buffer: [Double]?
        for step in 0..<3 {
            let grads: [Double] = [0.5 + Double(step), -0.25]
            let g = p.gradBuffer()
            p.zeroGrad()
            for i in 0..<2 { g[i] = Float(grads[i]) }
            sgd.update()
            let d = zip(grads, expected).map { $0 + 0.01 * $1 }
            buffer = buffer.map { zip($0, d).map { 0.9 * $0 + $1 } } ?? d
            expected = zip(expected, buffer!).map { $0 - 0.1 * $1 }
        }
        #expect(zip(p.values, expected).allSatisfy { abs(Double($0) - $1) < 1e-6 })
    }

    @Test func schedulesMatchTransformers() {
        let linear = LearningRateSchedule(kind: .linear, warmupSteps: 10, totalSteps: 110)
        #expect(linear.factor(at: 0) == 0)
        #expect(linear.factor(at: 5) == 0.5)
        #expect(linear.factor(at: 10) == 1)
        #expect(abs(linear.factor(at: 60) - 0.5) < 1e-6)
        #expect(linear.factor(at: 110) == 0)
        let cosine = LearningRateSchedule(kind: .cosine, warmupSteps: 0, totalSteps: 100)
        #expect(cosine.factor(at: 0) == 1)
        #expect(abs(cosine.factor(at: 50) - 0.5) < 1e-6)
        #expect(cosine.factor(at: 100) < 1e-6)
        #expect(LearningRateSchedule(kind: .constant, warmupSteps: 4, totalSteps: 10).factor(at: 2) == 0.5)
    }

    @Test func globalNormClipping() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true)
        let b = Tensor([0], shape: [1], requiresGrad: true)
        a.gradBuffer()[0] = 3
        b.gradBuffer()[0] = 4
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(a.gradValues[0] - 0.6) < 1e-6 && abs(b.gradValues[0] - 0.8) < 1e-6)
        #expect(clipGradientNorm([a, b], maxNorm: 10) < 1.0001, "under the limit nothing changes")
    }

    @Test func gradientsAccumulateOverMicroBatches() {
        let w = Tensor([0.5, -0.25, 1, 2], shape: [2, 2], requiresGrad: true)
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        for rows in [[0], [1]] {
            let g = Graph()
            g.backward(g.crossEntropy(g.linear(g.selectRows(x, rows), w), targets: [1]))
        }
        let accumulated = w.gradValues
        w.zeroGrad()
        let g = Graph()
        g.backward(g.crossEntropy(g.linear(x, w), targets: [1, 1]))
        // Two micro-batches of one sum to twice the mean over the batch of two.
        #expect(zip(accumulated, w.gradValues).allSatisfy { abs($0 - 2 * $1) < 1e-6 })
    }
}
