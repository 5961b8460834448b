// Registry blobs: TensorCodec.decode (TensorCodec.swift: header, chunk layout, stored/zstd/zlib
// streams, byte-stream regrouping) with the bound AdapterStore.files passes, then what
// AdapterStore does with a quantized tensor's decoded payload: FactorQuantization.decode
// (int8 and nf4) for the element counts and shapes an index could record for it.
// Oracle: a blob that decodes re-encodes (every transform and method) to bytes that decode to
// the same bytes.
import Foundation
import Quantization
import SafeTensors

@testable import Registry

enum Harness {
    static func setUp() {}

    static func run(_ bytes: [UInt8]) {
        // AdapterStore.files: maxLength is the raw size the index recorded (2·raw + 4096 for a
        // quantized payload); here the largest a small tensor could claim.
        guard let decoded = try? TensorCodec.decode(bytes, maxLength: 1 << 20) else { return }
        let width = Int(bytes[5])
        if let transform = TensorCodec.Transform(rawValue: bytes[6]) {
            for method in [TensorCodec.Method.zstd, .zlib] {
                let again = TensorCodec.encode(decoded, width: width, transform: transform, level: 1, method: method, chunkBytes: 4096)
                guard let back = try? TensorCodec.decode(again, maxLength: decoded.count), back == decoded else {
                    fatalError("a decoded blob does not survive encode/decode (\(method), \(transform))")
                }
            }
        }
        // The payload of a quantized factor: the index records the tensor's raw size and shape
        // (consistent with each other: the store wrote both), the blob is what is untrusted.
        let counts = Set([decoded.count, max(0, decoded.count - 4) * 2, max(0, decoded.count - 4) / 4, Int(bytes[7]) * 6])
        for encoding in FactorQuantization.allCases {
            for count in counts {
                let rows = Set([1, 2, 3, Int(bytes[7]) + 1].filter { count % $0 == 0 })
                for shape in [[count]] + rows.map({ [$0, count / $0] }) {
                    _ = try? encoding.decode(decoded, count: count, shape: shape, tensor: "fuzz")
                }
            }
        }
    }

    /// Blobs encoded from fixture tensors (every dtype the fixtures hold, zstd, zlib and stored
    /// streams, several chunks) and the quantized payloads of a few float tensors.
    static func writeSeeds(into folder: String) {
        var written = 0
        for path in Fuzz.fixtureFiles(suffix: ".safetensors") where written < 60 {
            guard let file = try? SafeTensorsFile(path: path) else { continue }
            for info in file.tensors.prefix(3) where info.byteCount > 0 {
                let data = Array(file.view(of: info).data.prefix(6000))
                let width = max(info.dtype.bitSize / 8, 1)
                let usable = Array(data.prefix(data.count / width * width))
                guard !usable.isEmpty else { continue }
                let method: TensorCodec.Method = written % 3 == 0 ? .zlib : .zstd
                let transform = TensorCodec.transform(width: width, dtype: info.dtype.rawValue)
                let blob = TensorCodec.encode(
                    usable, width: info.dtype.bitSize % 8 == 0 ? width : 1, transform: transform,
                    level: written % 2 == 0 ? 3 : 1, method: method, chunkBytes: 2048)
                Fuzz.seed(blob, named: "\(path)-\(info.name)-\(method)", into: folder)
                if let floats = try? file.view(of: info).floats(), floats.count <= 4096, floats.allSatisfy(\.isFinite) {
                    for encoding in FactorQuantization.allCases {
                        guard let payload = try? encoding.encode(floats, shape: info.shape, tensor: info.name) else { continue }
                        Fuzz.seed(
                            TensorCodec.encode(payload, width: 1, transform: .none, level: 3),
                            named: "\(path)-\(info.name)-\(encoding)", into: folder)
                    }
                }
                written += 1
            }
        }
        Fuzz.seed(TensorCodec.encode([], width: 4, transform: .rotatedByteStreams), named: "empty", into: folder)
        Fuzz.seed(
            TensorCodec.encode(Array(repeating: 7, count: 64), width: 8, transform: .byteStreams, level: 0, method: .stored),
            named: "stored-8", into: folder)
    }
}
