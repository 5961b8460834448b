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

    /// Index of the last real token of each row (right padding), or the last position.
    public var lastTokenIndices: [Int] {
        (0..<batch).map { b in
            let row = mask[(b * length)..<((b + 1) * length)]
            return (row.lastIndex(of: true) ?? (b * length + length - 1))
        }
    }
}
