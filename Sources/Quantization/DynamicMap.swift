/// The signed 8-bit dynamic quantization map of bitsandbytes (`create_dynamic_map(signed=True)`),
/// used by double quantization for the absmax statistics. Built bit for bit as bitsandbytes
/// builds it with torch: 127 negative values, 0 at index 127, 1.0 at index 255.
public enum DynamicMap {
    public static let signed: [Float] = {
        var values: [Float] = []
        for i in 0..<7 {
            let count = (1 << i) + 1
            let bounds = torchLinspace(from: 0.1, to: 1, count: count)
            let scale = Float(pow10(i - 6))
            for k in 0..<(count - 1) {
                let mean = (bounds[k] + bounds[k + 1]) / 2
                values.append(mean * scale)
                values.append(-(mean * scale))
            }
        }
        values.append(0)
        values.append(1)
        return values.sorted()
    }()

    /// The 255 midpoints between neighbouring map values, exact in f64: a value's nearest code
    /// (ties to the lower) is the number of midpoints below it.
    static let signedMidpoints: [Double] = (0..<255).map { (Double(signed[$0]) + Double(signed[$0 + 1])) / 2 }

    /// For each value of an f32's top 16 bits: how many midpoints lie below the smallest and
    /// below the largest f32 sharing those bits (two bytes per entry). The nested quantizer
    /// starts from the first count and compares only the midpoints up to the second.
    static let signedCodeRanges: [UInt8] = {
        var ranges = [UInt8](repeating: 0, count: 2 * 65_536)
        for prefix in 0..<65_536 {
            let a = Float(bitPattern: UInt32(prefix) << 16)
            let b = Float(bitPattern: UInt32(prefix) << 16 | 0xFFFF)
            guard !a.isNaN, !b.isNaN else { continue }
            let (low, high) = a <= b ? (a, b) : (b, a)
            ranges[2 * prefix] = countBelow(low)
            ranges[2 * prefix + 1] = countBelow(high)
        }
        return ranges
    }()

    /// Number of midpoints strictly below `value`, by binary search.
    static func countBelow(_ value: Float) -> UInt8 {
        let target = Double(value)
        var low = 0
        var high = signedMidpoints.count
        while low < high {
            let middle = (low + high) / 2
            if signedMidpoints[middle] < target { low = middle + 1 } else { high = middle }
        }
        return UInt8(low)
    }

    /// torch's f32 `linspace`: element i is start + step·i for the first half and
    /// end − step·(n − 1 − i) for the second, each rounded once to f32 (as an FMA would).
    static func torchLinspace(from start: Float, to end: Float, count: Int) -> [Float] {
        let step = (end - start) / Float(count - 1)
        return (0..<count).map { i in
            i < count / 2
                ? Float(Double(start) + Double(step) * Double(i))
                : Float(Double(end) - Double(step) * Double(count - 1 - i))
        }
    }

    private static func pow10(_ exponent: Int) -> Double {
        // Python's 10 ** k for negative k is 1 / 10^-k rounded once; Double(`1e-6`) is the same value.
        [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1][exponent + 6]
    }

    /// Index of the map value nearest to `value` (ties to the lower index).
    public static func nearestCode(_ value: Float, in map: [Float] = signed) -> UInt8 {
        var low = 0
        var high = map.count - 1
        while high - low > 1 {
            let middle = (low + high) / 2
            if map[middle] <= value { low = middle } else { high = middle }
        }
        if value <= map[low] { return UInt8(low) }
        if value >= map[high] { return UInt8(high) }
        // Distances in f64 are exact for f32 operands, so a tie is a true tie.
        return Double(value) - Double(map[low]) <= Double(map[high]) - Double(value) ? UInt8(low) : UInt8(high)
    }
}
