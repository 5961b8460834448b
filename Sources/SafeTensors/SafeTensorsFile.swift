#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file opened for reading: memory-mapped, header parsed and validated once,
/// tensors handed out as views into the mapping (no copy until a caller asks for one).
public final class SafeTensorsFile: Sendable {
    /// The path the file was opened from (or a label for an in-memory file).
    public let path: String
    public let header: SafeTensorsHeader
    public let storage: MappedStorage

    /// Opens and validates `path`. Opening costs the header parse; data pages are read lazily
    /// by the OS when a view is first touched.
    public convenience init(path: String) throws(SafeTensorsError) {
        try self.init(storage: MappedStorage(path: path), path: path)
    }

    /// Validates a complete file held in memory.
    public convenience init(bytes: some Collection<UInt8>, label: String = "<memory>") throws(SafeTensorsError) {
        try self.init(storage: MappedStorage(copying: bytes), path: label)
    }

    public init(storage: MappedStorage, path: String) throws(SafeTensorsError) {
        self.storage = storage
        self.path = path
        self.header = try SafeTensorsHeader.parse(fileBytes: storage.bytes, file: path)
    }

    public var metadata: [String: String]? { header.metadata }
    /// Tensor descriptions in data-offset order.
    public var tensors: [TensorInfo] { header.tensors }
    public var tensorNames: [String] { header.tensors.map(\.name) }

    /// A view of one tensor's bytes; throws `.tensorNotFound` for an unknown name.
    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorView {
        guard let info = header.tensor(named: name) else {
            throw SafeTensorsError(file: path, tensor: name, .tensorNotFound)
        }
        return view(of: info)
    }

    /// A view of a tensor described by this file's header.
    public func view(of info: TensorInfo) -> TensorView {
        let start = header.dataStart + info.dataOffsets.lowerBound
        let bytes = UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + info.byteCount)])
        return TensorView(info: info, bytes: bytes, storage: storage, file: path)
    }
}

/// One tensor's bytes inside a mapped file, with its dtype and shape.
///
/// `bytes` stays valid as long as the view (it holds its storage). Multi-byte values are
/// little-endian, as the format requires; data is not necessarily aligned to the element size
/// (headers written by other tools need not pad), so typed reads go through copies.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public let bytes: UnsafeRawBufferPointer
    public let storage: MappedStorage
    /// The file the view comes from, for errors.
    public let file: String

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
    public var elementCount: Int { info.elementCount }

    /// A copy of the bytes.
    public var data: [UInt8] { Array(bytes) }

    /// Tells the OS the mapped pages of this tensor are not needed for now (they are read again
    /// from the file if touched): after a weight was converted to a compact form (4-bit), its
    /// f32 pages need not stay resident.
    public func releasePages() {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + bytes.count) / page * page
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, Int32(MADV_DONTNEED))
    }

    /// The elements as f32, converting from F32, F16, BF16, F64, F8_E4M3 or F8_E5M2.
    public func floats() throws(SafeTensorsError) -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        var failure: SafeTensorsError?
        out.withUnsafeMutableBytes { destination in
            do throws(SafeTensorsError) {
                try DTypeConversion.convert(bytes, from: dtype, into: destination, as: .f32, file: file, tensor: name)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return out
    }
}
