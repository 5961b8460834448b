import Foundation

/// tokenizers' Unigram model (SentencePiece's, T5's): the segmentation of a word into vocabulary
/// pieces whose summed log-probabilities are highest (Viterbi). A position no piece starts at
/// becomes one unknown piece scored `min score − 10`, consecutive unknowns fuse into one, and with
/// `byte_fallback` an unknown piece is spelled as `<0xXX>` byte tokens when they all exist.
struct UnigramModel: Sendable {
    let pieces: [(piece: String, score: Double)]
    let ids: [String: Int]
    let unknownId: Int?
    let byteFallback: Bool
    /// The longest piece, in Unicode scalars: no candidate is longer.
    let longest: Int
    let unknownScore: Double

    init(_ json: JSONObject) throws {
        guard let entries = json.array("vocab") else { throw json.fail("Unigram model has no vocab list") }
        var pieces: [(piece: String, score: Double)] = []
        var ids: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            guard let pair = entry as? [Any], pair.count == 2, let piece = pair[0] as? String,
                let score = (pair[1] as? NSNumber)?.doubleValue,
                score.isFinite
            else { throw json.fail("vocab entry \(index) is not [piece, finite score]") }
            pieces.append((piece, score))
            if ids[piece] == nil { ids[piece] = index }
        }
        self.pieces = pieces
        self.ids = ids
        if let unk = json.values["unk_id"], !(unk is NSNull) {
            let id = try json.tokenId(unk, "unk_id")
            guard id < pieces.count else { throw json.fail("unk_id \(id) is outside the vocabulary of \(pieces.count)") }
            unknownId = id
        } else {
            unknownId = nil
        }
        byteFallback = json.bool("byte_fallback", default: false)
        longest = pieces.map { $0.piece.unicodeScalars.count }.max() ?? 1
        unknownScore = (pieces.map(\.score).min() ?? 0) - 10
    }

    /// Token ids of one pre-tokenized word.
    func encode(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        let n = scalars.count
        guard n > 0 else { return [] }
        // best[i]: the best score of a segmentation of scalars[0..<i], where its last piece
        // starts, and that piece's id (nil: unknown).
        var best = [(score: Double, start: Int, id: Int?)?](repeating: nil, count: n + 1)
        best[0] = (0, 0, nil)
        for start in 0..<n {
            guard let here = best[start] else { continue }
            var coveredOne = false
            for length in 1...min(longest, n - start) {
                var piece = String.UnicodeScalarView()
                piece.append(contentsOf: scalars[start..<(start + length)])
                guard let id = ids[String(piece)] else { continue }
                if length == 1 { coveredOne = true }
                let score = here.score + pieces[id].score
                if best[start + length] == nil || score > best[start + length]!.score { best[start + length] = (score, start, id) }
            }
            if !coveredOne {
                let score = here.score + unknownScore
                if best[start + 1] == nil || score > best[start + 1]!.score { best[start + 1] = (score, start, nil) }
            }
        }
        var spans: [(range: Range<Int>, id: Int?)] = []
        var end = n
        while end > 0, let node = best[end] {
            spans.append((node.start..<end, node.id))
            end = node.start
        }
        spans.reverse()
        var ids: [Int] = []
        var unknownRun: Range<Int>?
        func flushUnknown() {
            guard let run = unknownRun else { return }
            unknownRun = nil
            if byteFallback {
                var text = String.UnicodeScalarView()
                text.append(contentsOf: scalars[run])
                let bytes = Array(String(text).utf8).map { self.ids[String(format: "<0x%02X>", $0)] }
                if bytes.allSatisfy({ $0 != nil }) {
                    ids += bytes.map { $0! }
                    return
                }
            }
            if let unknownId { ids.append(unknownId) }
        }
        for span in spans {
            if let id = span.id {
                flushUnknown()
                ids.append(id)
            } else {
                unknownRun = (unknownRun?.lowerBound ?? span.range.lowerBound)..<span.range.upperBound
            }
        }
        flushUnknown()
        return ids
    }
}
