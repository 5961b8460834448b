import Foundation

/// The files of a Hugging Face model folder other than its weights: config.json, tokenizer
/// files, generation config, a sentence-transformers `1_Pooling/` and so on.
public enum ModelFolder {
    /// Copies every file and folder next to `checkpoint` (except its safetensors files, its
    /// index and hidden files) into `folder`. When `editConfig` is given, config.json is parsed,
    /// edited and written back as transformers writes it (`indent=2, sort_keys=True`); a config
    /// the edit leaves unchanged is copied byte for byte.
    /// - Returns: the paths written.
    public static func copyCompanions(
        of checkpoint: Checkpoint, into folder: String,
        editConfig: ((inout [String: PythonJSONText.Value]) throws -> Void)? = nil
    ) throws -> [String] {
        let checkpointFiles = Set(checkpoint.files.map { PathText.name(of: $0.path) } + [Checkpoint.indexFileName])
        var copied: [String] = []
        let entries = try FileManager.default.contentsOfDirectory(atPath: checkpoint.folder).sorted()
        for name in entries where !checkpointFiles.contains(name) && !name.hasPrefix(".") && !name.hasSuffix(".safetensors") {
            let source = checkpoint.folder + "/" + name
            let destination = folder + "/" + name
            if URL(fileURLWithPath: source).standardizedFileURL == URL(fileURLWithPath: destination).standardizedFileURL { continue }
            if name == "config.json", let editConfig, let edited = try editedConfig(at: source, editConfig) {
                try writeAtomically(Array(edited.utf8), to: destination)
            } else {
                try? FileManager.default.removeItem(atPath: destination)
                try FileManager.default.copyItem(atPath: source, toPath: destination)
            }
            copied.append(destination)
        }
        return copied
    }

    /// Reads `config.json` of a folder as a JSON object.
    public static func readConfig(_ path: String) throws -> [String: PythonJSONText.Value] {
        switch OutputPaths.kind(path) {
        case nil: throw SafeTensorsError(file: path, .io("no such file"))
        case .folder?: throw SafeTensorsError(file: path, .io("is a folder, not a file"))
        case .other?: throw SafeTensorsError(file: path, .io("is a device, FIFO or socket, not a regular file"))
        case .regular?: break
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw SafeTensorsError(file: path, .io("cannot be read")) }
        guard case .object(let members)? = PythonJSONText.Value(jsonData: data) else {
            throw SafeTensorsError(file: path, .io("not a JSON object"))
        }
        return members
    }

    /// Writes bytes to `path` through a temporary file and a rename.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let file = try AtomicFile(path: path)
        try withBytes(of: bytes) { (raw) throws(SafeTensorsError) in try file.write(raw, at: 0) }
        try file.commit()
    }

    private static func editedConfig(at path: String, _ edit: (inout [String: PythonJSONText.Value]) throws -> Void) throws -> String? {
        let original = try readConfig(path)
        var members = original
        try edit(&members)
        return members == original ? nil : PythonJSONText.render(.object(members))
    }
}
