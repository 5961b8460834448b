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

    public init(ids: [[Int]], mask: [[Bool]]? = nil, tokenTypes: [[Int]]? = nil) {
        batch = ids.count
        length = ids.first?.count ?? 0
        precondition(ids.allSatisfy { $0.count == ids.first?.count }, "rows must have one length")
        self.ids = ids.flatMap { $0 }
        self.mask = mask?.flatMap { $0 } ?? [Bool](repeating: true, count: batch * length)
        self.tokenTypes = tokenTypes?.flatMap { $0 } ?? [Int](repeating: 0, count: batch * length)
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
