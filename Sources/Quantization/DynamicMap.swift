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
