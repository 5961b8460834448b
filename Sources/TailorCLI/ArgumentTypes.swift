import Adapters
import ArgumentParser
import Collectives
import Quantization
import SafeTensors
import Training
import TrainingCore
import Workflows

// The library's choices, parsed straight from the command line: ArgumentParser lists their
// values in --help and refuses others with the list, so no command keeps its own strings.
extension Dataset.Task: ExpressibleByArgument {}
extension ComputeDType: ExpressibleByArgument {}
extension TaskModel.Method: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension TrainingArguments.EvalStrategy: ExpressibleByArgument {}
extension LoRAConfig.Bias: ExpressibleByArgument {}
extension LoRAConfig.Initialization.Choice: ExpressibleByArgument {}
extension QuantType: ExpressibleByArgument {}
extension AdapterMerge.Method: ExpressibleByArgument {}
extension StepBenchmark.Method: ExpressibleByArgument {}
extension AdapterStorage.Precision: ExpressibleByArgument {}
extension DistributedMode: ExpressibleByArgument {}

/// The floating-point dtypes a command writes, by the names people type (bf16, bfloat16, fp16, …).
struct FloatDType: ExpressibleByArgument {
    static let names: [String: DType] = [
        "bf16": .bf16, "bfloat16": .bf16, "f16": .f16, "fp16": .f16, "float16": .f16, "f32": .f32,
        "fp32": .f32, "float32": .f32,
    ]
    let dtype: DType

    init(_ dtype: DType) { self.dtype = dtype }

    init?(argument: String) {
        guard let dtype = Self.names[argument.lowercased()] else { return nil }
        self.dtype = dtype
    }

    static var allValueStrings: [String] { ["f32", "bf16", "f16"] }

    var defaultValueDescription: String { dtype.rawValue.lowercased() }
}
