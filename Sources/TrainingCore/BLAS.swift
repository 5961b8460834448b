import CTrainingKernels
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Single-precision GEMM through OpenBLAS, loaded at first use with `dlopen`.
///
/// Why not link it: Debian's OpenBLAS 0.3.21 does not recognise this machine's CPU and falls back
/// to its slowest kernels (65 vs ≈300 GFLOP/s) unless `OPENBLAS_CORETYPE` is in the environment
/// when the library loads — before `main` for a linked library. Loading it ourselves lets us set
/// a core type that matches the CPU's instruction set first, so every program using TrainingCore
/// gets the fast kernels without the user doing anything. `TAILOR_BLAS_CORETYPE` chooses the
/// core type explicitly; an inherited `OPENBLAS_CORETYPE` naming an older kernel family than this
/// CPU runs (e.g. "Haswell" on an AVX-512 machine, as some environments preset) is replaced by
/// the better one, so the choice is visible in `tailor bench` output as `BLAS.coreName`.
public enum BLAS {
    public enum Transpose: Sendable { case none, transposed }

    typealias SgemmFunction =
        @convention(c) (
            Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
            UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    typealias CorenameFunction = @convention(c) () -> UnsafePointer<CChar>?
    typealias SetThreadsFunction = @convention(c) (Int32) -> Void
    /// LAPACK's sgesdd (Fortran: every argument by pointer, then the hidden length of `jobz`).
    typealias SgesddFunction =
        @convention(c) (
            UnsafePointer<CChar>, UnsafePointer<Int32>, UnsafePointer<Int32>, UnsafeMutablePointer<Float>, UnsafePointer<Int32>,
            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Int32>, UnsafeMutablePointer<Float>,
            UnsafePointer<Int32>, UnsafeMutablePointer<Float>, UnsafePointer<Int32>, UnsafeMutablePointer<Int32>,
            UnsafeMutablePointer<Int32>, Int
        ) -> Void

    struct Library: @unchecked Sendable {
        let sgemm: SgemmFunction
        let corename: CorenameFunction?
        let setThreads: SetThreadsFunction?
        /// OpenBLAS bundles LAPACK; nil for a BLAS-only library.
        let sgesdd: SgesddFunction?
        let path: String
    }

    /// Library names tried in order (Debian's libopenblas-dev provides the first).
    static let candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libblas.so.3"]

    /// An explicit choice of kernels (`TAILOR_BLAS_CORETYPE`), if any.
    public static let requestedCoreType: String? = getenv("TAILOR_BLAS_CORETYPE").map { String(cString: $0) }

    /// The core type OpenBLAS is told to use: the explicit choice, else the best for this CPU,
    /// else whatever the environment says.
    public static var chosenCoreType: String? { requestedCoreType ?? preferredCoreType() }

    static let library: Library = {
        if let coreType = chosenCoreType { setenv("OPENBLAS_CORETYPE", coreType, 1) }
        for name in candidates {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL), let sgemm = dlsym(handle, "cblas_sgemm") else { continue }
            // Single-threaded from the first call: every caller splits work across cores itself
            // (Matmul, tiles of stored weights, attention heads), so OpenBLAS's own threads only
            // oversubscribe. Set here rather than by Matmul's first use, which a model whose
            // weights all stay bf16 never makes (17% of its prefill went to yielding threads).
            if let setThreads = dlsym(handle, "openblas_set_num_threads") {
                unsafeBitCast(setThreads, to: SetThreadsFunction.self)(1)
            }
            return Library(
                sgemm: unsafeBitCast(sgemm, to: SgemmFunction.self),
                corename: dlsym(handle, "openblas_get_corename").map { unsafeBitCast($0, to: CorenameFunction.self) },
                setThreads: dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreadsFunction.self) },
                sgesdd: dlsym(handle, "sgesdd_").map { unsafeBitCast($0, to: SgesddFunction.self) },
                path: name)
        }
        fatalError(
            "OpenBLAS not found (tried \(candidates.joined(separator: ", "))): install libopenblas-dev "
                + "(Scripts/install-system-packages does)")
    }()

    /// The OpenBLAS kernel family for this CPU, by instruction set (nil: let OpenBLAS decide).
    static func preferredCoreType() -> String? {
        #if arch(x86_64)
        let flags =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        #endif
        return nil
    }

    /// The kernel family OpenBLAS picked (e.g. "SkylakeX"), for reports.
    public static var coreName: String {
        library.corename?().map { String(cString: $0) } ?? "unknown (\(library.path))"
    }

    /// Sets OpenBLAS's thread count.
    public static func setThreads(_ count: Int) { library.setThreads?(Int32(count)) }

    /// C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major, with leading dimensions
    /// (row strides) `lda`, `ldb`, `ldc` so sub-matrices (one attention head) need no copy.
    /// When true, every GEMM's duration is added to ``gemmSeconds`` (for `tailor bench`).
    nonisolated(unsafe) public static var measuresTime = false

    /// Seconds spent inside GEMM calls, summed over threads, since the process started measuring.
    public static var gemmSeconds: Double { Double(tk_gemm_time_read()) / 1e9 }
    /// Seconds spent dequantizing 4-bit weight tiles for GEMMs, summed over threads (also
    /// measured while ``measuresTime`` is true).
    public static var dequantizeSeconds: Double { Double(tk_dequantize_time_read()) / 1e9 }

    @inline(__always)
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        let start = measuresTime ? DispatchTime.now().uptimeNanoseconds : 0
        // CBLAS constants: CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
        library.sgemm(
            101, transA == .none ? 111 : 112, transB == .none ? 111 : 112,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        if measuresTime { tk_gemm_time_add(DispatchTime.now().uptimeNanoseconds - start) }
    }
}
