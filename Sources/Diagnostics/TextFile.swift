import Foundation

/// Reading a user's text input (JSONL, CSV, prompts): what it is must be a regular file, its
/// bytes UTF-8, its lines ended by LF or CRLF. Each problem is one line naming the file (and the
/// line), instead of Foundation's "NSCocoaErrorDomain error 256" for a folder or a FIFO.
public enum TextFile {
    /// The file's bytes, after checking that `path` names a readable regular file.
    public static func bytes<Module>(_ path: String, for module: Module.Type) throws(FileProblem<Module>) -> [UInt8] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw FileProblem(file: path, "no such file")
        }
        guard !isFolder.boolValue else { throw FileProblem(file: path, "is a folder, not a file") }
        // stat follows symbolic links (Foundation's isRegularFile does not): a Hugging Face cache
        // snapshot is a folder of links into its blob store.
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw FileProblem(file: path, "is a device, FIFO or socket, not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileProblem(file: path, "cannot be read (permission denied?)")
        }
        return [UInt8](data)
    }

    /// The file's lines (LF or CRLF endings; a final line without one counts) with their 1-based
    /// numbers; a line that is not valid UTF-8 is an error naming its number.
    public static func lines<Module>(_ path: String, for module: Module.Type) throws(FileProblem<Module>) -> [(number: Int, text: String)] {
        let bytes = try bytes(path, for: module)
        var lines: [(number: Int, text: String)] = []
        var start = 0
        var number = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            number += 1
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            guard let text = String(validating: bytes[start..<lineEnd], as: UTF8.self) else {
                throw FileProblem(file: path, "line \(number) is not valid UTF-8")
            }
            lines.append((number, text))
            start = end + 1
        }
        return lines
    }

    /// The whole file as text (line endings kept), checked like ``lines(_:for:)``.
    public static func text<Module>(_ path: String, for module: Module.Type) throws(FileProblem<Module>) -> String {
        try lines(path, for: module).map(\.text).joined(separator: "\n")
    }
}
