import Tokenizers

/// A batch of token sequences, all padded to one length: what the models take.
public struct TokenBatch: Sendable {
    public var batch: Int
    public var length: Int
    /// `[B·T]` token ids.
    public var ids: [Int]
    /// `[B·T]`, true for real tokens, false for padding.
    public var mask: [Bool]
    /// `[B·T]` segment ids (BERT's token_type_ids); zeros when absent.
    public var tokenTypes: [Int]
    /// An encoder-decoder model's decoder input `[B·decoderLength]` (the targets shifted right
    /// after the decoder's start token); nil for other models.
    public var decoderIds: [Int]?
    public var decoderLength = 0

    public init(ids: [[Int]], mask: [[Bool]]? = nil, tokenTypes: [[Int]]? = nil) {
        batch = ids.count
        length = ids.first?.count ?? 0
        precondition(ids.allSatisfy { $0.count == ids.first?.count }, "rows must have one length")
        self.ids = ids.flatMap { $0 }
        self.mask = mask?.flatMap { $0 } ?? [Bool](repeating: true, count: batch * length)
        self.tokenTypes = tokenTypes?.flatMap { $0 } ?? [Int](repeating: 0, count: batch * length)
    }

    /// Rows of different lengths padded to the longest with `padId` on `side`: mask false and
    /// segment 0 there.
    public init(padding rows: [[Int]], typeIds: [[Int]]? = nil, padId: Int, side: PaddingSide = .right) {
        let length = rows.map(\.count).max() ?? 0
        func padded<T>(_ row: [T], _ filler: T) -> [T] {
            let fill = [T](repeating: filler, count: length - row.count)
            return side == .left ? fill + row : row + fill
        }
        self.init(
            ids: rows.map { padded($0, padId) }, mask: rows.map { padded([Bool](repeating: true, count: $0.count), false) },
            tokenTypes: typeIds.map { $0.map { padded($0, 0) } })
    }

    /// Per-token values of rows (labels) padded as ``init(padding:typeIds:padId:side:)`` pads their ids.
    public static func pad(_ rows: [[Int]], with filler: Int, side: PaddingSide = .right) -> [Int] {
        let length = rows.map(\.count).max() ?? 0
        return rows.flatMap { row in
            let fill = [Int](repeating: filler, count: length - row.count)
            return side == .left ? fill + row : row + fill
        }
    }

    /// The batch with `count` always-visible positions (virtual tokens) before every sequence:
    /// ids 0 there (never looked up), mask true, segment 0.
    public func withVirtualPrefix(_ count: Int) -> TokenBatch {
        var copy = self
        copy.length = length + count
        copy.ids = []
        copy.mask = []
        copy.tokenTypes = []
        for b in 0..<batch {
            copy.ids += [Int](repeating: 0, count: count) + ids[(b * length)..<((b + 1) * length)]
            copy.mask += [Bool](repeating: true, count: count) + mask[(b * length)..<((b + 1) * length)]
            copy.tokenTypes += [Int](repeating: 0, count: count) + tokenTypes[(b * length)..<((b + 1) * length)]
        }
        return copy
    }

    /// Index of the last real token of each row (right padding), or the last position.
    public var lastTokenIndices: [Int] {
        (0..<batch).map { b in
            let row = mask[(b * length)..<((b + 1) * length)]
            return (row.lastIndex(of: true) ?? (b * length + length - 1))
        }
    }
}
