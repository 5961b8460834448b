/// The 4-bit data types of bitsandbytes.
public enum QuantType: String, Sendable, CaseIterable, Codable {
    /// 4-bit NormalFloat (QLoRA): quantiles of a normal distribution, exact zero at code 7.
    case nf4
    /// 4-bit float (1 sign, 2 exponent, 1 mantissa bits), normalised to [-1, 1]; bit 3 is the sign.
    case fp4

    /// The 16 code values in code order, exactly bitsandbytes' f32 values.
    public var codebook: Codebook { self == .nf4 ? .nf4 : .fp4 }
}

/// A 4-bit codebook and what quantizing to it needs: the midpoints between its sorted values and
/// the map from sorted position back to code.
public struct Codebook: Sendable {
    /// Code index → value.
    public let values: [Float]
    /// The 15 midpoints between consecutive sorted values, computed in f32 as `(a + b) / 2`.
    public let midpoints: [Float]
    /// Sorted position → code index (a stable sort: FP4's two zeros keep code order, as torch's argsort leaves them).
    public let order: [UInt8]

    init(values: [Float]) {
        self.values = values
        let sorted = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        order = sorted.map { UInt8($0) }
        midpoints = (0..<15).map { (values[sorted[$0]] + values[sorted[$0 + 1]]) / 2 }
    }

    public static let nf4 = Codebook(values: [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ])

    /// FP4 values are bitsandbytes' `[0, 0.0625, 8, 12, 4, 6, 2, 3, -0, …] / 12`, divided in f32.
    /// Its "-0" is Python's integer -0, i.e. +0.0: code 8 decodes to +0, not −0.
    public static let fp4 = Codebook(
        values: [
            0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3,
        ].map { (value: Float) in value / 12 })

    /// The code an exact zero quantizes to (pads an odd element count).
    public var zeroCode: UInt8 {
        let position = midpoints.filter { $0 < 0 }.count
        return order[position]
    }
}
