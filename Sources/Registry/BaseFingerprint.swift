import Crypto
import Foundation
import SafeTensors

/// Identifies the base model an adapter was trained on, so that applying it to another base is
/// caught. SHA-256 over every tensor's name, dtype and shape, and the first and last 4 KiB of
/// its data: a different architecture changes the shapes, a different checkpoint of the same
/// architecture (a fine-tune, another seed) changes the sampled bytes, and a 14 GB model is
/// fingerprinted without reading 14 GB. A 4-bit base is fingerprinted as stored, so an adapter
/// trained with `--quantize nf4` matches the f32 folder it was quantized from only when the same
/// folder is given.
public enum BaseFingerprint {
    static let sample = 4096

    public static func compute(folder: String) throws -> String {
        let checkpoint = try Checkpoint.open(folder)
        var hasher = SHA256()
        for info in checkpoint.tensorInfos.sorted(by: { $0.name < $1.name }) {
            hasher.update(data: Array("\(info.name)|\(info.dtype.rawValue)|\(info.shape)\n".utf8))
            let view = try checkpoint.tensor(info.name)
            let bytes = view.bytes
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[0..<min(sample, bytes.count)]))
            if bytes.count > sample {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[max(sample, bytes.count - sample)..<bytes.count]))
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
