import Foundation
import SafeTensors
import Testing

@Suite struct ConvertEndToEndTests {
    @Test func f32FileToBF16KeepsOtherTensorsAndMetadata() throws {
        let folder = TemporaryFolder()
        let input = TailorProcess.fixture("safetensors/writer/mixed.safetensors")
        let output = folder.file("out.safetensors")
        let result = try TailorProcess.run(["convert", input, output, "--dtype", "bf16", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["converted"] as? Int == 4, "F32 ×2, F16 and F64 tensors; BF16 is already bf16")
        let original = try SafeTensorsFile(path: input)
        let converted = try SafeTensorsFile(path: output)
        #expect(converted.metadata == original.metadata)
        #expect(Set(converted.tensorNames) == Set(original.tensorNames))
        for info in original.tensors {
            let out = try converted.tensor(info.name)
            #expect(out.shape == info.shape)
            if [.f32, .f16, .bf16, .f64].contains(info.dtype) {
                #expect(out.dtype == .bf16)
                // torch narrows half through its scalar path (canonical NaN), f32/f64 through its vector path.
                let encode = info.dtype == .f16 ? FloatEncoding.bfloat16ScalarPath(fromFloat:) : FloatEncoding.bfloat16(fromFloat:)
                let expected = try original.view(of: info).floats().map(encode)
                let actual = out.data.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
                #expect(actual == expected, "\(info.name)")
            } else {
                #expect(out.dtype == info.dtype)
                #expect(out.data == original.view(of: info).data, "\(info.name) kept byte for byte")
            }
        }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.safetensors"],
            "no temporary file left behind")
    }

    @Test func onlyConvertsMatchingTensors() throws {
        let folder = TemporaryFolder()
        let output = folder.file("out.safetensors")
        let result = try TailorProcess.run([
            "convert", TailorProcess.fixture("tiny-bert/model.safetensors"), output,
            "--dtype", "f16", "--only", #"layer\.1\."#,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let converted = try SafeTensorsFile(path: output)
        for info in converted.tensors {
            #expect(info.dtype == (info.name.contains("layer.1.") ? .f16 : .f32), "\(info.name)")
        }
    }

    @Test func folderToFolderCopiesConfigAndReshards() throws {
        let folder = TemporaryFolder()
        let out = folder.file("sharded")
        let result = try TailorProcess.run([
            "convert", TailorProcess.fixture("tiny-bert"), out, "--dtype", "f32",
            "--max-shard-size", "60kB",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files.contains("config.json"))
        #expect(files.contains("model.safetensors.index.json"))
        #expect(files.filter { $0.hasSuffix(".safetensors") }.count == 3)
        let original = try Checkpoint.open(TailorProcess.fixture("tiny-bert"))
        let sharded = try Checkpoint.open(out)
        for name in original.tensorNames {
            #expect(try sharded.tensor(name).data == original.tensor(name).data)
        }
    }

    @Test func folderConversionUpdatesTheConfigDType() throws {
        let folder = TemporaryFolder()
        let out = folder.file("bf16")
        let result = try TailorProcess.run(["convert", TailorProcess.fixture("tiny-bert"), out, "--dtype", "bf16"])
        #expect(result.status == 0, "\(result.stderr)")
        let original = try String(contentsOfFile: TailorProcess.fixture("tiny-bert/config.json"), encoding: .utf8)
        let written = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        // Rewritten as transformers writes it: only the dtype line differs.
        #expect(written == original.replacingOccurrences(of: "\"dtype\": \"float32\"", with: "\"dtype\": \"bfloat16\""))
        #expect(written != original)
    }

    @Test func badInputGivesOneLineAndNoOutput() throws {
        let folder = TemporaryFolder()
        let output = folder.file("out.safetensors")
        let result = try TailorProcess.run([
            "convert", TailorProcess.fixture("safetensors/malformed/truncated-data.safetensors"),
            output, "--dtype", "bf16",
        ])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.hasPrefix("tailor: error: "))
        #expect(result.stderr.contains("truncated-data.safetensors"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    @Test func badArgumentsAreRefused() throws {
        let folder = TemporaryFolder()
        let input = TailorProcess.fixture("tiny-bert/model.safetensors")
        let badDType = try TailorProcess.run(["convert", input, folder.file("o.safetensors"), "--dtype", "int4"])
        #expect(badDType.status != 0)
        #expect(badDType.stderr.contains("int4"))
        let badRegex = try TailorProcess.run(["convert", input, folder.file("o.safetensors"), "--dtype", "bf16", "--only", "(("])
        #expect(badRegex.status == 1)
        #expect(badRegex.stderr.split(separator: "\n").count == 1)
        let overwrite = try TailorProcess.run(["convert", input, input, "--dtype", "bf16"])
        #expect(overwrite.status == 1)
        #expect(overwrite.stderr.contains("overwrite the input"))
    }
}
