import CZstd
import Foundation

/// Reused zstd contexts. Creating one allocates and clears ~100–200 KB, which cost more than
/// compressing an adapter's small tensors; a pool lets concurrent callers each take their own.
final class ZstdContexts: @unchecked Sendable {
    static let shared = ZstdContexts()
    private let lock = NSLock()
    private var compressors: [OpaquePointer] = []
    private var decompressors: [OpaquePointer] = []

    func withCompressor<T>(_ body: (OpaquePointer?) throws -> T) rethrows -> T {
        let context = lock.withLock { compressors.popLast() } ?? ZSTD_createCCtx()
        defer { if let context { lock.withLock { compressors.append(context) } } }
        return try body(context)
    }

    func withDecompressor<T>(_ body: (OpaquePointer?) throws -> T) rethrows -> T {
        let context = lock.withLock { decompressors.popLast() } ?? ZSTD_createDCtx()
        defer { if let context { lock.withLock { decompressors.append(context) } } }
        return try body(context)
    }
}
