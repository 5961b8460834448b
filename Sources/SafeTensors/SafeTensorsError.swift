/// A problem with a safetensors file: one case per rule of the format, each naming the file and,
/// where one is concerned, the tensor.
///
/// The cases follow the official crate's error enum so that a file it rejects is rejected here
/// for the same reason; `description` is the one line the CLI prints.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Which rule was broken.
    public enum Kind: Equatable, Sendable {
        /// The file is shorter than the 8-byte header length prefix.
        case headerTooSmall(fileSize: Int)
        /// The header length exceeds 100,000,000 bytes (also when it does not fit an Int).
        case headerTooLarge(length: UInt64)
        /// The header length runs past the end of the file.
        case invalidHeaderLength(length: Int, fileSize: Int)
        /// The header bytes are not valid UTF-8.
        case headerNotUTF8(byteOffset: Int)
        /// The header is not JSON, or not JSON of the format (wrong types, unknown dtype, …).
        case invalidHeaderJSON(String)
        /// Offsets leave a gap, overlap, do not start at 0, or end before they begin.
        case invalidOffset
        /// shape × element size overflows a 64-bit count.
        case validationOverflow
        /// A sub-byte dtype whose element count does not fill whole bytes.
        case misalignedSlice(dtype: DType, elements: Int)
        /// `end − begin` differs from the size the dtype and shape give.
        case tensorInvalidInfo(expectedBytes: Int, actualBytes: Int)
        /// The data does not end exactly at the end of the file.
        case incompleteBuffer(expectedFileSize: Int, actualFileSize: Int)
        /// A tensor name asked for is not in the file.
        case tensorNotFound
        /// On write: a tensor named `__metadata__`, a duplicate name, or data of the wrong size.
        case invalidTensor(String)
        /// On write: a header longer than 100,000,000 bytes.
        case headerTooLargeToWrite(length: Int)
        /// A sharded checkpoint's index is broken or disagrees with its shards.
        case invalidIndex(String)
        /// The operating system refused an open, read, map, write or rename.
        case io(String)
        /// A dtype conversion that is not supported.
        case unsupportedConversion(from: DType, to: DType)
    }

    public var file: String
    public var tensor: String?
    public var kind: Kind

    public init(file: String, tensor: String? = nil, _ kind: Kind) {
        self.file = file
        self.tensor = tensor
        self.kind = kind
    }

    public var description: String {
        let subject = tensor.map { "\(file): tensor '\($0)'" } ?? file
        return "\(subject): \(message)"
    }

    /// The problem alone, without the file.
    public var message: String {
        switch kind {
        case .headerTooSmall(let size):
            return "file is \(size) bytes, shorter than the 8-byte header length"
        case .headerTooLarge(let length):
            return "header length \(length) exceeds the 100,000,000-byte limit"
        case .invalidHeaderLength(let length, let size):
            return "header length \(length) runs past the end of the \(size)-byte file"
        case .headerNotUTF8(let offset):
            return "header is not valid UTF-8 (byte \(offset) of the header)"
        case .invalidHeaderJSON(let why):
            return "header is not a valid safetensors JSON header: \(why)"
        case .invalidOffset:
            return "data_offsets leave a gap, overlap, or do not start at 0"
        case .validationOverflow:
            return "shape × element size overflows"
        case .misalignedSlice(let dtype, let elements):
            return "\(elements) elements of \(dtype.rawValue) are not a whole number of bytes"
        case .tensorInvalidInfo(let expected, let actual):
            return "data_offsets span \(actual) bytes but dtype and shape need \(expected)"
        case .incompleteBuffer(let expected, let actual):
            return actual > expected
                ? "\(actual - expected) trailing bytes after the last tensor (file is \(actual) bytes, header describes \(expected))"
                : "file is truncated: \(actual) bytes, header describes \(expected)"
        case .tensorNotFound:
            return "no such tensor"
        case .invalidTensor(let why):
            return why
        case .headerTooLargeToWrite(let length):
            return "header of \(length) bytes exceeds the 100,000,000-byte limit"
        case .invalidIndex(let why):
            return "invalid sharded checkpoint index: \(why)"
        case .io(let why):
            return why
        case .unsupportedConversion(let from, let to):
            return "cannot convert \(from.rawValue) to \(to.rawValue)"
        }
    }
}

/// Runs `body` over the bytes of `array`, keeping the typed error (the standard library's
/// `withUnsafeBytes` rethrows untyped).
func withBytes<R>(
    of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(SafeTensorsError) -> R
) throws(SafeTensorsError) -> R {
    let result: Result<R, SafeTensorsError> = array.withUnsafeBytes { raw in
        do throws(SafeTensorsError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
