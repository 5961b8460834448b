#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes of a whole file, memory-mapped read-only (or held in memory for in-memory files).
///
/// Tensor views point into these bytes without copying, so a view keeps its storage alive.
/// The mapping is private and read-only: nothing here ever writes through it.
public final class MappedStorage: @unchecked Sendable {
    /// The bytes; valid for the lifetime of this object.
    public let bytes: UnsafeRawBufferPointer
    private let isMapped: Bool

    /// Maps `path` read-only. An empty file gets an empty buffer (mmap refuses length 0).
    public init(path: String) throws(SafeTensorsError) {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
        // regular-file check below then refuses it. (It has no effect on regular files.)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SafeTensorsError(file: path, .io("cannot open: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafeTensorsError(file: path, .io("cannot stat: \(String(cString: strerror(errno)))"))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError(file: path, .io("is a device, FIFO or socket, not a regular file"))
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            isMapped = false
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw SafeTensorsError(file: path, .io("cannot memory-map: \(String(cString: strerror(errno)))"))
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        isMapped = true
    }

    /// Holds a copy of `contents` (for files built in memory and for tests).
    public init(copying contents: some Collection<UInt8>) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(contents.count, 1), alignment: 64)
        // One memcpy for arrays and slices; the element-wise path goes through generic witnesses.
        let copied: Void? = contents.withContiguousStorageIfAvailable { buffer.copyMemory(from: UnsafeRawBufferPointer($0)) }
        if copied == nil { _ = buffer.initializeMemory(as: UInt8.self, from: contents) }
        bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: contents.count)
        isMapped = false
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}
