import Testing

@testable import TrainingCore

/// OpenBLAS results against a naive loop, for every transpose combination and with leading
/// dimensions larger than the matrix (the attention heads' case). Some OpenBLAS builds compute
/// wrong results on CPUs they do not know; this catches a bad core type choice.
@Suite struct GEMMTests {
    static func naive(
        _ tA: BLAS.Transpose, _ tB: BLAS.Transpose, m: Int, n: Int, k: Int, a: [Float], lda: Int,
        b: [Float], ldb: Int, c: [Float], ldc: Int, alpha: Float, beta: Float
    ) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let av = tA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = tB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * Float(sum) + beta * c[i * ldc + j]
            }
        }
        return out
    }

    @Test(
        arguments: [(BLAS.Transpose.none, BLAS.Transpose.none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed)],
        [(3, 5, 7), (64, 96, 48), (300, 20, 257)])
    func matchesNaive(transposes: (BLAS.Transpose, BLAS.Transpose), size: (Int, Int, Int)) {
        let (m, n, k) = size
        var rng = RandomGenerator(seed: UInt64(m * 1000 + n * 10 + k))
        let lda = (transposes.0 == .none ? k : m) + 3
        let ldb = (transposes.1 == .none ? n : k) + 2
        let ldc = n + 5
        let a = (0..<((transposes.0 == .none ? m : k) * lda)).map { _ in rng.nextNormal() }
        let b = (0..<((transposes.1 == .none ? k : n) * ldb)).map { _ in rng.nextNormal() }
        let c = (0..<(m * ldc)).map { _ in rng.nextNormal() }
        let expected = Self.naive(
            transposes.0, transposes.1, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
            alpha: 0.5, beta: 0.25)
        for parallel in [false, true] {
            var out = c
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { cp in
                        Matmul.gemm(
                            transposes.0, transposes.1, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: ldb, beta: 0.25, c: cp.baseAddress!, ldc: ldc, parallel: parallel)
                    }
                }
            }
            let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-3, "\(transposes) \(size) parallel=\(parallel): max error \(worst)")
        }
    }

    @Test func fastKernelsAreInUse() throws {
        // The point of loading OpenBLAS ourselves: on AVX-512 machines the SkylakeX kernels, even
        // when the environment presets an older family (TAILOR_BLAS_CORETYPE chooses explicitly).
        #expect(!BLAS.coreName.hasPrefix("unknown"), "OpenBLAS reports which kernels it runs: \(BLAS.coreName)")
        #if arch(x86_64)
        // Read the CPU's features here, independently of BLAS.preferredCoreType: every machine this
        // project builds on has AVX2, so a choice must have been made and must be what runs.
        let flags =
            try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ")) } ?? []
        if flags.contains("avx2") {
            let expected = try #require(BLAS.chosenCoreType, "an AVX2 CPU gets a kernel family chosen")
            #expect(BLAS.coreName.lowercased() == expected.lowercased(), "OpenBLAS picked \(BLAS.coreName), not \(expected)")
        }
        if flags.contains("avx512f"), flags.contains("avx512bw"), flags.contains("avx512vl"), BLAS.requestedCoreType == nil {
            #expect(BLAS.coreName == "SkylakeX", "AVX-512 machines run the SkylakeX kernels, not \(BLAS.coreName)")
        }
        #endif
    }
}
