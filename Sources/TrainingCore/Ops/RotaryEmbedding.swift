import CTrainingKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotary position embeddings as Llama applies them (the "rotate half" layout): for each head,
/// the pairs (x[i], x[i + D/2]) are rotated by angle position · invFreq[i].
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    /// One inverse frequency per pair, `D / 2` values.
    public let inverseFrequencies: [Float]

    /// `theta^(−2i/D)` as transformers computes it in f32, optionally rescaled by the llama3
    /// `rope_scaling` rule (low frequencies divided by `factor`, high kept, a smooth ramp between).
    public init(headDim: Int, theta: Double, llama3Scaling: Llama3RopeScaling? = nil) {
        self.headDim = headDim
        var frequencies = (0..<(headDim / 2)).map { i -> Float in
            let exponent = Float(2 * i) / Float(headDim)
            return 1 / Float(pow(theta, Double(exponent)))
        }
        if let scaling = llama3Scaling { frequencies = frequencies.map(scaling.apply) }
        inverseFrequencies = frequencies
    }

    /// cos and sin tables `[positions.count, D/2]` for these positions.
    public func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        var cosines = [Float](repeating: 0, count: positions.count * headDim / 2)
        var sines = cosines
        for (row, position) in positions.enumerated() {
            for i in 0..<(headDim / 2) {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[row * headDim / 2 + i] = Foundation_cos(angle)
                sines[row * headDim / 2 + i] = Foundation_sin(angle)
            }
        }
        return (cosines, sines)
    }
}

/// transformers' llama3 `rope_scaling`: factor, low/high frequency factors, original context.
public struct Llama3RopeScaling: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalMaxPositions: Double

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Double) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalMaxPositions = originalMaxPositions
    }

    func apply(_ frequency: Float) -> Float {
        let lowWavelength = originalMaxPositions / lowFrequencyFactor
        let highWavelength = originalMaxPositions / highFrequencyFactor
        let wavelength = 2 * Double.pi / Double(frequency)
        if wavelength < highWavelength { return frequency }
        if wavelength > lowWavelength { return Float(Double(frequency) / factor) }
        let smooth = (originalMaxPositions / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor)
        return Float((1 - smooth) * Double(frequency) / factor + smooth * Double(frequency))
    }
}

private func Foundation_cos(_ x: Float) -> Float { cosf(x) }
private func Foundation_sin(_ x: Float) -> Float { sinf(x) }

extension Graph {
    /// Rotates every head of x `[B·T, H·D]` by the tables of its row's position (`cos`/`sin` are
    /// `[T, D/2]`, the same for every batch row).
    public func rope(_ x: Tensor, batch: Int, length: Int, heads: Int, headDim: Int, cos: [Float], sin: [Float]) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        let half = headDim / 2
        let stride = heads * headDim
        func rotate(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, inverse: Bool, accumulate: Bool) {
            for row in 0..<(batch * length) {
                let t = row % length
                let c = cos.withUnsafeBufferPointer { $0.baseAddress! + t * half }
                let s = sin.withUnsafeBufferPointer { $0.baseAddress! + t * half }
                for h in 0..<heads {
                    let xIn = source + row * stride + h * headDim
                    let xOut = destination + row * stride + h * headDim
                    for i in 0..<half {
                        let a = xIn[i], b = xIn[i + half]
                        let sine = inverse ? -s[i] : s[i]
                        let first = a * c[i] - b * sine
                        let second = b * c[i] + a * sine
                        if accumulate {
                            xOut[i] += first
                            xOut[i + half] += second
                        } else {
                            xOut[i] = first
                            xOut[i + half] = second
                        }
                    }
                }
            }
        }
        if roundsToBF16 {
            ropeBF16(x, y, rows: batch * length, length: length, heads: heads, headDim: headDim, cos: cos, sin: sin)
        } else {
            rotate(x.data, y.data, inverse: false, accumulate: false)
        }
        record(y, [x]) { dy in rotate(dy, x.gradBuffer(), inverse: true, accumulate: true) }
        return y
    }

    /// transformers' `q * cos + rotate_half(q) * sin` in bfloat16: the tables are cast to bf16 and
    /// each product and the sum are bf16 tensors.
    private func ropeBF16(
        _ x: Tensor, _ y: Tensor, rows: Int, length: Int, heads: Int, headDim: Int, cos: [Float], sin: [Float]
    ) {
        var (c16, s16) = (cos, sin)
        c16.withUnsafeMutableBufferPointer { tk_round_bf16($0.baseAddress!, Int64($0.count)) }
        s16.withUnsafeMutableBufferPointer { tk_round_bf16($0.baseAddress!, Int64($0.count)) }
        let bf16 = roundedToBF16
        let half = headDim / 2, stride = heads * headDim
        for row in 0..<rows {
            let t = row % length
            for h in 0..<heads {
                let xIn = x.data + row * stride + h * headDim, xOut = y.data + row * stride + h * headDim
                for i in 0..<half {
                    let (a, b, c, s) = (xIn[i], xIn[i + half], c16[t * half + i], s16[t * half + i])
                    xOut[i] = bf16(bf16(a * c) + bf16(-b * s))
                    xOut[i + half] = bf16(bf16(b * c) + bf16(a * s))
                }
            }
        }
    }
}
