import Foundation
import SafeTensors
import TailorTestSupport
import Testing

@testable import Quantization

/// `ModelQuantizer` on the tiny models against the same models quantized and saved by
/// transformers 5.24 + bitsandbytes 0.50.2 (fixtures/tiny-*-nf4, tiny-llama-fp4).
@Suite struct ModelGoldenTests {
    static func quantize(
        _ model: String, _ configure: (inout ModelQuantizer.Options) -> Void
    ) throws -> (TemporaryFolder, Checkpoint, ModelQuantizer.Report) {
        let folder = TemporaryFolder()
        var options = ModelQuantizer.Options()
        configure(&options)
        let report = try ModelQuantizer.quantize(modelFolder: FixturePaths.path(model), outputFolder: folder.path, options: options)
        return (folder, try Checkpoint.open(folder.path), report)
    }

    @Test(arguments: [("tiny-llama", "tiny-llama-nf4"), ("tiny-bert", "tiny-bert-nf4")])
    func nf4WithDoubleQuantizationMatchesTransformers(model: String, golden: String) throws {
        let (folder, ours, report) = try Self.quantize(model) { $0.computeDType = .bf16 }
        let theirs = try Checkpoint.open(FixturePaths.path(golden))
        #expect(Set(ours.tensorNames) == Set(theirs.tensorNames), "the same tensors are quantized and kept")
        #expect(report.weights.count == BitsAndBytesLayout.quantizedWeightNames(in: theirs).count)
        var codeDifferences = 0
        var codeCount = 0
        for name in theirs.tensorNames {
            let a = try ours.tensor(name)
            let b = try theirs.tensor(name)
            #expect(a.dtype == b.dtype, "\(name)")
            if name.hasSuffix(".quant_state.bitsandbytes__nf4") {
                // Its length follows the offset's digits, which may differ in the last place.
                let stateA = try QuantState(jsonBytes: a.data, file: "ours", tensor: name)
                var stateB = try QuantState(jsonBytes: b.data, file: "theirs", tensor: name)
                // bitsandbytes sums absmax in f32 in torch's order; we sum in f64 and round once.
                #expect(abs(stateA.nestedOffset! - stateB.nestedOffset!) <= stateB.nestedOffset!.ulp * 2, "\(name)")
                stateB.nestedOffset = stateA.nestedOffset
                #expect(stateA == stateB, "\(name)")
            } else if name.hasSuffix(".nested_absmax") {
                // max |absmax − offset|: inherits the offset's last-place difference.
                let worst = zip(try a.floats(), try b.floats()).map { abs($0 - $1) / $1.ulp }.max() ?? 0
                #expect(worst <= 4, "\(name): \(worst) ulp apart")
            } else if name.hasSuffix(".absmax") {
                codeCount += a.bytes.count
                codeDifferences += zip(a.data, b.data).filter { $0 != $1 }.count
            } else {
                #expect(a.shape == b.shape, "\(name)")
                #expect(a.data == b.data, "\(name): packed codes, quant maps and unquantized tensors byte for byte")
            }
        }
        // Where bitsandbytes' 65,536-entry lookup table misses the exact nearest 8-bit code.
        #expect(codeDifferences * 100 <= codeCount, "\(codeDifferences) of \(codeCount) absmax codes differ")
        let configOurs = try String(contentsOfFile: folder.file("config.json"), encoding: .utf8)
        let configTheirs = try String(contentsOfFile: FixturePaths.path(golden + "/config.json"), encoding: .utf8)
        #expect(configOurs == configTheirs, "config.json as transformers writes it")
    }

    @Test func fp4WithoutDoubleQuantizationIsByteIdentical() throws {
        let (folder, _, _) = try Self.quantize("tiny-llama") {
            $0.type = .fp4
            $0.doubleQuantization = false
            $0.computeDType = .f32
        }
        for file in ["model.safetensors", "config.json", "generation_config.json"] {
            let ours = try Data(contentsOf: URL(fileURLWithPath: folder.file(file)))
            let theirs = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("tiny-llama-fp4/" + file)))
            #expect(ours == theirs, "\(file)")
        }
    }

    @Test func readsTransformersCheckpointWithBitsandbytesValues() throws {
        let checkpoint = try Checkpoint.open(FixturePaths.path("tiny-bert-nf4"))
        let golden = try SafeTensorsFile(path: FixturePaths.path("quantization/tiny-bert-nf4-dequantized.safetensors"))
        #expect(BitsAndBytesLayout.quantizedWeightNames(in: checkpoint).sorted() == golden.tensorNames.sorted())
        for name in golden.tensorNames {
            let weight = try BitsAndBytesLayout.read(name, from: checkpoint)
            #expect(weight.dequantized().map(\.bitPattern) == (try golden.tensor(name).floats()).map(\.bitPattern), "\(name)")
            #expect(weight.shape == (try golden.tensor(name).shape))
        }
    }

    @Test func dequantizedFolderIsAPlainCheckpointNearTheOriginal() throws {
        let folder = TemporaryFolder()
        let report = try ModelDequantizer.dequantize(folder: FixturePaths.path("tiny-bert-nf4"), outputFolder: folder.path, dtype: nil)
        #expect(report.dequantized.count == 14)
        let original = try Checkpoint.open(FixturePaths.path("tiny-bert"))
        let restored = try Checkpoint.open(folder.path)
        #expect(Set(restored.tensorNames) == Set(original.tensorNames))
        let golden = try SafeTensorsFile(path: FixturePaths.path("quantization/tiny-bert-nf4-dequantized.safetensors"))
        for name in original.tensorNames {
            let view = try restored.tensor(name)
            #expect(view.dtype == .f32 && view.shape == original.info(name)!.shape)
            if golden.header.tensor(named: name) != nil {
                #expect(view.data == (try golden.tensor(name).data), "\(name): bitsandbytes' values")
            } else {
                #expect(view.data == (try original.tensor(name).data), "\(name) copied")
            }
        }
        let config = try ModelFolder.readConfig(folder.file("config.json"))
        #expect(config["quantization_config"] == nil)
        #expect(config == (try ModelFolder.readConfig(FixturePaths.path("tiny-bert/config.json"))))
    }
}
