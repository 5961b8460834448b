import CQuantizationKernels
import Dispatch
import Foundation

/// 4-bit blockwise quantization in bitsandbytes' layout, parallel over blocks on every core.
///
/// Values are flattened row-major and cut into blocks of `blockSize` that cross row boundaries;
/// the last block may be partial. See `formats/nf4.md` for the exact rounding rules.
public enum BlockwiseQuantization {
    /// The block sizes bitsandbytes supports for 4-bit weights.
    public static let supportedBlockSizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]

    public static func blockCount(elements: Int, blockSize: Int) -> Int { (elements + blockSize - 1) / blockSize }
    public static func packedByteCount(elements: Int) -> Int { (elements + 1) / 2 }

    /// Quantizes `values` into `packed` ((n+1)/2 bytes) and `absmax` (one per block).
    /// - Returns: the number of blocks holding NaN or ±Inf (the caller reports them).
    public static func quantize(
        _ values: UnsafeBufferPointer<Float>, type: QuantType, blockSize: Int,
        packed: UnsafeMutableBufferPointer<UInt8>, absmax: UnsafeMutableBufferPointer<Float>
    ) -> Int {
        let count = values.count
        let blocks = blockCount(elements: count, blockSize: blockSize)
        precondition(packed.count == packedByteCount(elements: count) && absmax.count == blocks)
        guard count > 0 else { return 0 }
        let codebook = type.codebook
        let blocksPerTask = max(1, (1 << 16) / blockSize)
        let tasks = (blocks + blocksPerTask - 1) / blocksPerTask
        let input = UncheckedPointers(values.baseAddress!, packed.baseAddress!, absmax.baseAddress!)
        return codebook.midpoints.withUnsafeBufferPointer { midpoints in
            codebook.order.withUnsafeBufferPointer { order in
                let tables = UncheckedTables(midpoints.baseAddress!, order.baseAddress!)
                let run: @Sendable (Int) -> Int = { task in
                    let first = task * blocksPerTask
                    return Int(
                        tailor_quantize_4bit(
                            input.values, Int64(count), Int64(blockSize), tables.midpoints, tables.order,
                            input.packed, input.absmax, Int64(first), Int64(min(blocks, first + blocksPerTask))))
                }
                if tasks == 1 { return run(0) }
                let bad = BadBlockCounter()
                DispatchQueue.concurrentPerform(iterations: tasks) { task in bad.add(run(task)) }
                return bad.total
            }
        }
    }

    /// max|x| per block, as ``quantize(_:type:blockSize:packed:absmax:)`` computes it; `nil` when a
    /// block holds NaN or ±Inf.
    public static func blockAbsmax(_ values: UnsafeBufferPointer<Float>, blockSize: Int) -> [Float]? {
        var absmax = [Float](repeating: 0, count: blockCount(elements: values.count, blockSize: blockSize))
        guard !values.isEmpty else { return absmax }
        let bad = absmax.withUnsafeMutableBufferPointer { out in
            tailor_block_absmax(values.baseAddress!, Int64(values.count), Int64(blockSize), out.baseAddress!, 0, Int64(out.count))
        }
        return bad == 0 ? absmax : nil
    }

    /// Dequantizes elements `range` of a packed tensor into `output` (`range.count` floats):
    /// `value = codebook[code] × absmax[i / blockSize]`, in f32 as bitsandbytes computes it.
    /// A range of whole rows is a tile of an `[out, in]` weight: the training core's fused path.
    public static func dequantize(
        packed: UnsafeBufferPointer<UInt8>, blockSize: Int, codebook: [Float], absmax: UnsafeBufferPointer<Float>,
        elements range: Range<Int>, into output: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(output.count == range.count)
        guard !range.isEmpty else { return }
        let pointers = UncheckedDequantizePointers(packed.baseAddress!, absmax.baseAddress!, output.baseAddress!)
        codebook.withUnsafeBufferPointer { code in
            let table = UncheckedTables(code.baseAddress!)
            let chunk = 1 << 16
            let tasks = (range.count + chunk - 1) / chunk
            let run: @Sendable (Int) -> Void = { task in
                let first = range.lowerBound + task * chunk
                let end = min(range.upperBound, first + chunk)
                tailor_dequantize_4bit(
                    pointers.packed, Int64(blockSize), table.code, pointers.absmax,
                    pointers.output + (first - range.lowerBound), Int64(first), Int64(end))
            }
            if tasks == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: tasks, execute: run) }
        }
    }
}

// Raw pointers handed to worker threads, which read shared inputs and write disjoint outputs.
private struct UncheckedPointers: @unchecked Sendable {
    let values: UnsafePointer<Float>
    let packed: UnsafeMutablePointer<UInt8>
    let absmax: UnsafeMutablePointer<Float>
    init(_ values: UnsafePointer<Float>, _ packed: UnsafeMutablePointer<UInt8>, _ absmax: UnsafeMutablePointer<Float>) {
        (self.values, self.packed, self.absmax) = (values, packed, absmax)
    }
}

private struct UncheckedDequantizePointers: @unchecked Sendable {
    let packed: UnsafePointer<UInt8>
    let absmax: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
    init(_ packed: UnsafePointer<UInt8>, _ absmax: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        (self.packed, self.absmax, self.output) = (packed, absmax, output)
    }
}

private struct UncheckedTables: @unchecked Sendable {
    var midpoints: UnsafePointer<Float>! = nil
    var order: UnsafePointer<UInt8>! = nil
    var code: UnsafePointer<Float>! = nil
    init(_ midpoints: UnsafePointer<Float>, _ order: UnsafePointer<UInt8>) { (self.midpoints, self.order) = (midpoints, order) }
    init(_ code: UnsafePointer<Float>) { self.code = code }
}

private final class BadBlockCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ value: Int) {
        guard value > 0 else { return }
        lock.withLock { count += value }
    }
    var total: Int { lock.withLock { count } }
}
