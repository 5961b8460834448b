import Foundation

/// A checkpoint as one set of named tensors, whatever its layout on disk: one safetensors file,
/// a model folder holding one, or a sharded checkpoint (`model.safetensors.index.json` whose
/// `weight_map` names the shard of every tensor).
public final class Checkpoint: Sendable {
    /// How the tensors are stored.
    public enum Layout: Sendable, Equatable {
        case singleFile
        /// The index file and the shard file names in index order.
        case sharded(index: String, shards: [String])
    }

    /// The path the checkpoint was opened from (file, folder or index).
    public let path: String
    /// The folder holding the checkpoint's files (the file's folder for a single file).
    public let folder: String
    public let layout: Layout
    /// Every file, shards in the order of their names.
    public let files: [SafeTensorsFile]
    /// Tensor name → (index into `files`, description).
    private let locations: [String: Location]
    /// Tensor names, file by file, in data-offset order.
    public let tensorNames: [String]
    /// For a sharded checkpoint, the `metadata` object of its index (e.g. `total_size`).
    public let indexMetadata: [String: PythonJSONText.Value]

    struct Location: Sendable {
        var file: Int
        var info: TensorInfo
    }

    /// The file names tried, in order, when `path` is a folder.
    public static let indexFileName = "model.safetensors.index.json"
    static let singleFileNames = ["model.safetensors", "adapter_model.safetensors"]

    /// Opens `path`: a `.safetensors` file, an index file, or a folder holding either.
    public static func open(_ path: String) throws(SafeTensorsError) -> Checkpoint {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw SafeTensorsError(file: path, .io("no such file or folder"))
        }
        if !isFolder.boolValue {
            if path.hasSuffix(".index.json") { return try openSharded(index: path, requestedPath: path) }
            let file = try SafeTensorsFile(path: path)
            return Checkpoint(
                path: path, folder: PathText.folder(of: path),
                layout: .singleFile, files: [file], indexMetadata: [:])
        }
        let folder = path
        let index = folder + "/" + indexFileName
        if FileManager.default.fileExists(atPath: index) { return try openSharded(index: index, requestedPath: path) }
        for name in singleFileNames where FileManager.default.fileExists(atPath: folder + "/" + name) {
            let file = try SafeTensorsFile(path: folder + "/" + name)
            return Checkpoint(path: path, folder: folder, layout: .singleFile, files: [file], indexMetadata: [:])
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let indexes = entries.filter { $0.hasSuffix(".safetensors.index.json") }.sorted()
        if indexes.count == 1 { return try openSharded(index: folder + "/" + indexes[0], requestedPath: path) }
        let singles = entries.filter { $0.hasSuffix(".safetensors") }.sorted()
        if singles.count == 1 {
            let file = try SafeTensorsFile(path: folder + "/" + singles[0])
            return Checkpoint(path: path, folder: folder, layout: .singleFile, files: [file], indexMetadata: [:])
        }
        let why =
            singles.isEmpty
            ? "no safetensors checkpoint in this folder"
            : "\(singles.count) .safetensors files and no index: name one file"
        throw SafeTensorsError(file: path, .io(why))
    }

    private static func openSharded(index: String, requestedPath: String) throws(SafeTensorsError) -> Checkpoint {
        func invalid(_ why: String) -> SafeTensorsError { SafeTensorsError(file: index, .invalidIndex(why)) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
            throw SafeTensorsError(file: index, .io("cannot read: \(error.localizedDescription)"))
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw invalid("not a JSON object")
        }
        guard let weightMap = root["weight_map"] as? [String: Any] else { throw invalid("no \"weight_map\" object") }
        var shardOf: [String: String] = [:]
        for (tensor, shard) in weightMap {
            guard let shard = shard as? String else { throw invalid("weight_map entry \"\(tensor)\" is not a file name") }
            guard !shard.contains("/"), shard != "..", !shard.isEmpty else {
                throw invalid("weight_map entry \"\(tensor)\" names \"\(shard)\", which is not a file in this folder")
            }
            shardOf[tensor] = shard
        }
        let folder = PathText.folder(of: index)
        let shardNames = Set(shardOf.values).sorted()
        var files: [SafeTensorsFile] = []
        for name in shardNames {
            files.append(try SafeTensorsFile(path: (folder.isEmpty ? "." : folder) + "/" + name))
        }
        for (tensor, shard) in shardOf {
            let file = files[shardNames.firstIndex(of: shard)!]
            guard file.header.tensor(named: tensor) != nil else {
                throw SafeTensorsError(
                    file: file.path, tensor: tensor,
                    .invalidIndex("the index places this tensor in \(shard), which does not hold it"))
            }
        }
        var metadata: [String: PythonJSONText.Value] = [:]
        if let object = root["metadata"], case .object(let members)? = PythonJSONText.Value(jsonObject: object) {
            metadata = members
        }
        return Checkpoint(
            path: requestedPath, folder: folder,
            layout: .sharded(index: index, shards: shardNames), files: files,
            indexMetadata: metadata, only: shardOf)
    }

    private init(
        path: String, folder: String, layout: Layout, files: [SafeTensorsFile],
        indexMetadata: [String: PythonJSONText.Value], only shardOf: [String: String]? = nil
    ) {
        self.path = path
        self.folder = folder.isEmpty ? "." : folder
        self.layout = layout
        self.files = files
        self.indexMetadata = indexMetadata
        var locations: [String: Location] = [:]
        var names: [String] = []
        for (i, file) in files.enumerated() {
            let fileName = PathText.name(of: file.path)
            for info in file.tensors {
                // A shard may hold tensors the index does not list; the index is what counts.
                if let shardOf, shardOf[info.name] != fileName { continue }
                locations[info.name] = Location(file: i, info: info)
                names.append(info.name)
            }
        }
        self.locations = locations
        self.tensorNames = names
    }

    /// Every tensor's description, in ``tensorNames`` order.
    public var tensorInfos: [TensorInfo] { tensorNames.map { locations[$0]!.info } }

    /// The `__metadata__` of the first file (shards written together carry the same).
    public var metadata: [String: String]? { files.first?.metadata }

    public func info(_ name: String) -> TensorInfo? { locations[name]?.info }

    /// The file holding tensor `name`.
    public func file(holding name: String) -> SafeTensorsFile? { locations[name].map { files[$0.file] } }

    /// A view of tensor `name`'s bytes; throws `.tensorNotFound` naming the checkpoint.
    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorView {
        guard let location = locations[name] else { throw SafeTensorsError(file: path, tensor: name, .tensorNotFound) }
        return files[location.file].view(of: location.info)
    }
}
