import Foundation

/// How far a quantized tensor is from the original: root-mean-square error, largest absolute
/// error, and signal-to-noise ratio in dB (10·log10(Σx² / Σ(x − x̂)²)).
public struct QuantizationStatistics: Sendable, Equatable {
    public var rmse: Double
    public var maxAbsoluteError: Double
    public var snrDecibels: Double
    public var elementCount: Int

    public init(original: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
        precondition(original.count == reconstructed.count)
        var signal = 0.0
        var noise = 0.0
        var largest = 0.0
        for i in 0..<original.count {
            let x = Double(original[i])
            let error = abs(x - Double(reconstructed[i]))
            signal += x * x
            noise += error * error
            largest = max(largest, error)
        }
        elementCount = original.count
        rmse = original.isEmpty ? 0 : (noise / Double(original.count)).squareRoot()
        maxAbsoluteError = largest
        snrDecibels = noise == 0 ? .infinity : 10 * log10(signal / noise)
    }

    /// Statistics over several tensors pooled together (element-weighted).
    public static func pooled(_ parts: [QuantizationStatistics]) -> QuantizationStatistics? {
        guard !parts.isEmpty else { return nil }
        var total = QuantizationStatistics(rmse: 0, maxAbsoluteError: 0, snrDecibels: 0, elementCount: 0)
        var noise = 0.0
        var signal = 0.0
        for part in parts {
            let partNoise = part.rmse * part.rmse * Double(part.elementCount)
            noise += partNoise
            signal += part.snrDecibels.isFinite ? partNoise * pow10(part.snrDecibels / 10) : 0
            total.maxAbsoluteError = max(total.maxAbsoluteError, part.maxAbsoluteError)
            total.elementCount += part.elementCount
        }
        total.rmse = total.elementCount == 0 ? 0 : (noise / Double(total.elementCount)).squareRoot()
        total.snrDecibels = noise == 0 ? .infinity : 10 * log10(signal / noise)
        return total
    }

    init(rmse: Double, maxAbsoluteError: Double, snrDecibels: Double, elementCount: Int) {
        self.rmse = rmse
        self.maxAbsoluteError = maxAbsoluteError
        self.snrDecibels = snrDecibels
        self.elementCount = elementCount
    }
}

private func pow10(_ x: Double) -> Double { pow(10, x) }
