import SafeTensors

/// What quantizing and dequantizing a model folder both report about the files they wrote.
protocol FolderRewriteReport {
    var bytesBefore: Int { get set }
    var bytesAfter: Int { get set }
    var outputFiles: [String] { get set }
}

extension ModelQuantizer.Report: FolderRewriteReport {}
extension ModelDequantizer.Report: FolderRewriteReport {}

extension FolderRewriteReport {
    /// Records the shards `writer` wrote, then copies the folder's other files (config.json
    /// edited by `editConfig`, tokenizer files) next to them.
    mutating func finish(
        writer: ShardedCheckpointWriter, checkpoint: Checkpoint, bytesBefore total: Int, outputFolder: String,
        editConfig: (inout [String: PythonJSONText.Value]) throws -> Void
    ) throws {
        outputFiles = writer.outputFiles
        bytesBefore = total
        bytesAfter = writer.shardBytes
        outputFiles += try withoutActuallyEscaping(editConfig) { edit in
            try ModelFolder.copyCompanions(of: checkpoint, into: outputFolder, editConfig: edit)
        }
    }
}
