import Foundation

/// T5's relative position bias: a learned `[buckets, H]` table read at the bucket of each
/// (query, key) distance, giving the `[H, Tq, Tk]` bias that attention adds to its scores.
extension Graph {
    /// transformers' `_relative_position_bucket` for `relative` = key position − query position:
    /// distances below half the buckets (a quarter, each way, when `bidirectional`) get their own
    /// bucket, longer ones share log-spaced buckets up to `maxDistance`, beyond which all share
    /// the last. A causal (decoder) stack only tells keys before the query apart.
    public static func relativePositionBucket(_ relative: Int, bidirectional: Bool, buckets: Int, maxDistance: Int) -> Int {
        var buckets = buckets, bucket = 0, distance: Int
        if bidirectional {
            buckets /= 2
            if relative > 0 { bucket += buckets }
            distance = abs(relative)
        } else {
            distance = -min(relative, 0)
        }
        let maxExact = buckets / 2
        guard distance >= maxExact else { return bucket + distance }
        // In f32 as PyTorch computes it, so that distances on a bucket's edge land where they do there.
        let scaled = Float(log(Float(distance) / Float(maxExact))) / Float(log(Double(maxDistance) / Double(maxExact)))
        let large = maxExact + Int(scaled * Float(buckets - maxExact))
        return bucket + min(large, buckets - 1)
    }

    /// The bias `[H, Tq, Tk]` for queries at positions `queryOffset…` over keys `0..<keyLength`.
    public func relativePositionBias(
        _ table: Tensor, queryLength: Int, keyLength: Int, queryOffset: Int = 0, bidirectional: Bool, maxDistance: Int
    ) -> Tensor {
        let (buckets, heads) = (table.rows, table.columns)
        var index = [Int](repeating: 0, count: queryLength * keyLength)
        for i in 0..<queryLength {
            for j in 0..<keyLength {
                index[i * keyLength + j] = Self.relativePositionBucket(
                    j - (i + queryOffset), bidirectional: bidirectional, buckets: buckets, maxDistance: maxDistance)
            }
        }
        let scores = queryLength * keyLength
        let out = Tensor(uninitialized: [heads, queryLength, keyLength])
        for h in 0..<heads {
            for position in 0..<scores { out.data[h * scores + position] = table.data[index[position] * heads + h] }
        }
        record(out, [table]) { dy in
            let grad = table.gradBuffer()
            for h in 0..<heads {
                for position in 0..<scores { grad[index[position] * heads + h] += dy[h * scores + position] }
            }
        }
        return out
    }
}
