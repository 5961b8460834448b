import TrainingCore

/// Keys and values of the tokens one sequence has seen, per decoder layer `[capacity, Hkv·D]`,
/// preallocated so decoding a token appends without allocating. Decoder families share it.
public final class KVCache {
    public let capacity: Int
    public private(set) var length = 0
    /// An encoder-decoder's encoded source: its rows in the cross-attention layers (which follow
    /// the self-attention ones); 0 for a decoder.
    public internal(set) var memoryLength = 0
    var keys: [Tensor]
    var values: [Tensor]

    init(layers: Int, capacity: Int, kvStride: Int) {
        self.capacity = capacity
        keys = (0..<layers).map { _ in Tensor(zeros: [capacity, kvStride]) }
        values = (0..<layers).map { _ in Tensor(zeros: [capacity, kvStride]) }
    }

    /// Writes `count` rows of keys and values for `layer` at `position`.
    func store(layer: Int, at position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, count: Int) {
        let stride = keys[layer].columns
        (keys[layer].data + position * stride).update(from: k, count: count * stride)
        (values[layer].data + position * stride).update(from: v, count: count * stride)
    }

    func advance(by count: Int) { length += count }
}
