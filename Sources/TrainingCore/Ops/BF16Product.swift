import CTrainingKernels

/// The product of many rows with a stored weight in bf16 compute mode on CPUs with AVX512_BF16:
/// activations and weight tiles rounded to bf16 and multiplied with `vdpbf16ps` (twice the f32
/// FMA rate), f32 accumulation. Elsewhere bf16 mode multiplies the same bf16 values with f32
/// GEMMs, which gives the same products (exact in f32) summed in another order.
enum BF16Product {
    /// Rows of A kept in L2 while every panel of a weight tile passes over them.
    static let rowBlock = 96

    /// Tests run the packing and blocking here with the portable arithmetic on any CPU.
    nonisolated(unsafe) static var forcePortable = false

    static var isUsed: Bool { forcePortable || tk_bf16_gemm_available() != 0 }

    /// y = (or +=) x · Wᵀ: x's rows packed once, each tile of the weight widened, rounded and
    /// packed into panels of 32 outputs, tiles split across cores.
    static func multiply(_ x: Tensor, _ weight: any StoredLinearWeight, into y: Tensor, accumulate: Bool) {
        let (rows, inFeatures, outFeatures) = (x.rows, weight.inFeatures, weight.outFeatures)
        let even = inFeatures + (inFeatures & 1)
        let packedRows = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * even)
        defer { packedRows.deallocate() }
        Parallel.forRanges(rows, grain: 16) { r in
            tk_bf16_pack_rows(
                x.data + r.lowerBound * inFeatures, Int64(inFeatures), Int64(r.count), Int64(inFeatures), packedRows + r.lowerBound * even)
        }
        let (tiles, tile) = weight.tiling
        let panelColumns = Int(TK_BF16_PANEL_COLUMNS), panelLength = Int(tk_bf16_panel_length(Int64(inFeatures)))
        let fast: Int32 = forcePortable ? 0 : 1
        Parallel.forRanges(tiles, grain: 1) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * inFeatures)
            let panels = UnsafeMutablePointer<UInt16>.allocate(capacity: (tile + panelColumns - 1) / panelColumns * panelLength)
            defer {
                buffer.deallocate()
                panels.deallocate()
            }
            for t in range where t * tile < outFeatures {
                let outRows = (t * tile)..<min(outFeatures, (t + 1) * tile)
                weight.widenRows(outRows, into: buffer)
                let starts = Array(stride(from: 0, to: outRows.count, by: panelColumns))
                for (index, start) in starts.enumerated() {
                    tk_bf16_pack_panel(
                        buffer + start * inFeatures, Int64(inFeatures), Int64(min(panelColumns, outRows.count - start)),
                        Int64(inFeatures), panels + index * panelLength)
                }
                for block in stride(from: 0, to: rows, by: rowBlock) {
                    let blockRows = min(rowBlock, rows - block)
                    for (index, start) in starts.enumerated() {
                        tk_bf16_gemm_panel(
                            packedRows + block * even, Int64(blockRows), Int64(inFeatures), panels + index * panelLength,
                            Int64(min(panelColumns, outRows.count - start)),
                            y.data + block * outFeatures + outRows.lowerBound + start, Int64(outFeatures), accumulate ? 1 : 0, fast)
                    }
                }
            }
        }
    }
}
