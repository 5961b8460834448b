/// The thin singular value decomposition A = U·diag(S)·Vh of a row-major `[m, n]` matrix, through
/// LAPACK's sgesdd (the divide-and-conquer driver torch uses on the CPU). For PiSSA's LoRA init.
public struct SingularValueDecomposition: Sendable {
    /// `[m, k]` row-major, k = min(m, n).
    public let u: [Float]
    /// `[k]`, descending.
    public let s: [Float]
    /// `[k, n]` row-major.
    public let vh: [Float]
    public let rank: Int

    /// `name` is the matrix's tensor name, which an error names when the SVD fails to converge.
    public init(_ a: [Float], rows m: Int, columns n: Int, name: String? = nil) throws(TrainingCoreError) {
        precondition(a.count == m * n)
        guard let sgesdd = BLAS.library.sgesdd else {
            throw TrainingCoreError(file: BLAS.library.path, "has no LAPACK sgesdd (install libopenblas-dev)")
        }
        // LAPACK is column-major, so it sees our row-major A as Aᵀ [n, m] = U'·S·V'ᵀ. Then
        // A = V'·S·U'ᵀ, and the buffers LAPACK returns are already our row-major factors:
        // its VT' [k, m] column-major is U [m, k] row-major, its U' [n, k] column-major is Vh.
        let k = min(m, n)
        var matrix = a
        var singular = [Float](repeating: 0, count: k)
        var left = [Float](repeating: 0, count: n * k)  // U'
        var right = [Float](repeating: 0, count: k * m)  // V'ᵀ
        var rows = Int32(n), columns = Int32(m), lda = Int32(n), ldu = Int32(n), ldvt = Int32(k)
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0
        var query: Float = 0
        var lwork: Int32 = -1
        let job: [CChar] = [CChar(UInt8(ascii: "S")), 0]
        sgesdd(job, &rows, &columns, &matrix, &lda, &singular, &left, &ldu, &right, &ldvt, &query, &lwork, &iwork, &info, 1)
        // The size comes back as a float: round up, or a large workspace ends up one short.
        lwork = Int32(query.rounded(.up))
        var work = [Float](repeating: 0, count: max(Int(lwork), 1))
        sgesdd(job, &rows, &columns, &matrix, &lda, &singular, &left, &ldu, &right, &ldvt, &work, &lwork, &iwork, &info, 1)
        guard info == 0 else {
            throw TrainingCoreError(file: name ?? "[\(m), \(n)] matrix", "the SVD did not converge (sgesdd info \(info))")
        }
        u = right
        s = singular
        vh = left
        rank = k
    }
}
