/// A seeded, reproducible generator (xoshiro256**, seeded through SplitMix64): the same seed
/// gives the same dropout masks, initial weights and data order on every machine.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator for `seed` mixed with `streams` (e.g. a run seed, a step and a layer index):
    /// reproducible dropout per step without saving generator states.
    public init(seed: UInt64, streams: UInt64...) {
        var mixed = seed
        for stream in streams { mixed = mixed &* 0x9E37_79B9_7F4A_7C15 &+ stream &+ 0x632B_E59B_D9B4_E019 }
        self.init(seed: mixed)
    }

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u = max(Double(next() >> 11) * 0x1p-53, 1e-300)
        let v = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
private func _log(_ x: Double) -> Double { log(x) }
private func _cos(_ x: Double) -> Double { cos(x) }
