import CTrainingKernels
import Dispatch

/// A frozen Linear weight `[out, in]` kept in the form it is stored in (4-bit packed, bf16) and
/// never widened to f32 as a whole: products with a few rows read it directly, larger ones widen
/// a tile of rows at a time into a buffer for the GEMM.
public protocol StoredLinearWeight: AnyObject, Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    var name: String { get }
    /// Rows `rows` of the weight in f32 into `buffer` (`rows.count × in` floats).
    func widenRows(_ rows: Range<Int>, into buffer: UnsafeMutablePointer<Float>)
    /// `y = x · Wᵀ` (+ what `y` holds with `accumulate`) for at most `TK_DECODE_MAX_ROWS` rows.
    func multiplyFewRows(_ x: Tensor, into y: Tensor, accumulate: Bool)
}

extension StoredLinearWeight {
    /// Tiles of at most 256 output rows (256 rows of MiniLM's widest input are 1.5 MB,
    /// cache-sized), as many as a multiple of the cores so each core gets the same work (384 rows
    /// in tiles of 256 left one core half idle): (count, rows each).
    var tiling: (tiles: Int, tile: Int) {
        precondition(outFeatures > 0, "linear \(name): no outputs")
        let workers = max(Parallel.workers, 1)
        let tiles = ((outFeatures + 255) / 256 + workers - 1) / workers * workers
        return (tiles, (outFeatures + tiles - 1) / tiles)
    }

    /// The whole weight in f32 (merges, SVD initialisations).
    public func widened() -> [Float] {
        [Float](unsafeUninitializedCapacity: outFeatures * inFeatures) { buffer, count in
            if outFeatures > 0 { widenRows(0..<outFeatures, into: buffer.baseAddress!) }
            count = outFeatures * inFeatures
        }
    }
}

/// A frozen 16-bit (bf16 or f16) weight read where it lies (a memory-mapped checkpoint): a
/// 1B-parameter model's Linear weights stay 2 bytes each instead of becoming 4-byte copies.
public final class HalfLinearWeight: StoredLinearWeight, @unchecked Sendable {
    public enum Format: Sendable { case bf16, f16 }

    public let outFeatures, inFeatures: Int
    public let name: String
    public let format: Format
    let bits: UnsafePointer<UInt16>
    /// Keeps the mapping (or copy) that `bits` points into alive.
    private let owner: AnyObject

    public init(bits: UnsafePointer<UInt16>, shape: [Int], owner: AnyObject, name: String, format: Format = .bf16) {
        precondition(shape.count == 2, "16-bit Linear weight must be 2-D")
        (outFeatures, inFeatures) = (shape[0], shape[1])
        self.bits = bits
        self.owner = owner
        self.name = name
        self.format = format
    }

    public func widenRows(_ rows: Range<Int>, into buffer: UnsafeMutablePointer<Float>) {
        let source = bits + rows.lowerBound * inFeatures
        switch format {
        case .bf16: for i in 0..<(rows.count * inFeatures) { buffer[i] = Float(bitPattern: UInt32(source[i]) << 16) }
        case .f16: tk_widen_f16(source, buffer, Int64(rows.count * inFeatures))
        }
    }

    public func multiplyFewRows(_ x: Tensor, into y: Tensor, accumulate: Bool) {
        precondition(x.rows <= Int(TK_DECODE_MAX_ROWS), "\(x.rows) rows: the 16-bit few-row product takes at most 8")
        let (rows, inFeatures, outFeatures) = (x.rows, self.inFeatures, self.outFeatures)
        let product = format == .bf16 ? tk_matvec_bf16 : tk_matvec_f16
        Parallel.forRanges(outFeatures, grain: 64) { range in
            product(
                bits, Int64(inFeatures), Int64(inFeatures), Int64(range.lowerBound), Int64(range.upperBound), x.data, Int64(rows),
                y.data, Int64(outFeatures), accumulate ? 1 : 0)
        }
    }
}
