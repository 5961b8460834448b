/// GEMM over the machine's cores: OpenBLAS runs single-threaded and we split the output rows (or
/// columns, when there are few rows) across workers ourselves, so GEMMs and our own parallel
/// kernels (attention heads run one GEMM per head on each core) never oversubscribe the CPU.
public enum Matmul {
    private static let configured: Bool = {
        BLAS.setThreads(1)
        return true
    }()

    /// C[M,N] = op(A)[M,K] · op(B)[K,N] + beta·C, row-major with leading dimensions.
    public static func gemm(
        _ transA: BLAS.Transpose, _ transB: BLAS.Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Bool = true
    ) {
        _ = configured
        let work = m * n * k
        let workers = parallel && work >= 1 << 18 ? Parallel.workers : 1
        if workers == 1 {
            BLAS.sgemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if m >= n || m >= 64 * workers {
            // Split rows of C: rows of op(A).
            Parallel.forRanges(m, grain: max(1, m / workers)) { rows in
                let aStart = transA == .none ? a + rows.lowerBound * lda : a + rows.lowerBound
                BLAS.sgemm(
                    transA, transB, m: rows.count, n: n, k: k, alpha: alpha, a: aStart, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
            }
        } else {
            // Split columns of C: columns of op(B).
            Parallel.forRanges(n, grain: max(1, n / workers)) { columns in
                let bStart = transB == .none ? b + columns.lowerBound : b + columns.lowerBound * ldb
                BLAS.sgemm(
                    transA, transB, m: m, n: columns.count, k: k, alpha: alpha, a: a, lda: lda,
                    b: bStart, ldb: ldb, beta: beta, c: c + columns.lowerBound, ldc: ldc)
            }
        }
    }
}
