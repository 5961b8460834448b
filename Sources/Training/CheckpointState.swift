import Foundation
import SafeTensors
import TrainingCore

/// What a checkpoint folder holds besides the trained weights: the trainer's position and
/// history (`trainer_state.json`) and the optimizer's moments (`optimizer.safetensors`), so a
/// resumed run continues exactly where it stopped.
public struct TrainerState: Codable, Sendable, Equatable {
    public var globalStep = 0
    /// Forward passes done (several per step with gradient accumulation).
    public var microStep = 0
    public var epoch = 0
    public var bestMetric: Double?
    public var bestCheckpoint: String?
    public var evaluationsWithoutImprovement = 0
    public var logHistory: [LogEntry] = []

    public struct LogEntry: Codable, Sendable, Equatable {
        public var step: Int
        public var epoch: Double
        public var values: [String: Double]
    }

    static let fileName = "trainer_state.json"
    static let optimizerFile = "optimizer.safetensors"

    func write(to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try ModelFolder.writeAtomically(Array(try encoder.encode(self)), to: folder + "/" + Self.fileName)
    }

    static func read(from folder: String) throws -> TrainerState {
        let path = folder + "/" + fileName
        do {
            return try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TrainingError(file: path, "cannot read the trainer state: \(error.localizedDescription)")
        }
    }

    static func writeOptimizer(_ optimizer: AdamW, names: [String], to folder: String) throws {
        var tensors: [TensorData] = []
        for (index, name) in names.enumerated() {
            let (m, v) = optimizer.state(of: index)
            tensors.append(TensorData(name: name + ".exp_avg", shape: [m.count], floats: m))
            tensors.append(TensorData(name: name + ".exp_avg_sq", shape: [v.count], floats: v))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["step": String(optimizer.step)], to: folder + "/" + optimizerFile)
    }

    static func readOptimizer(_ optimizer: AdamW, names: [String], expectedStep: Int, from folder: String) throws {
        let file = try SafeTensorsFile(path: folder + "/" + optimizerFile)
        guard let step = file.metadata?["step"].flatMap(Int.init), step == expectedStep else {
            throw TrainingError(file: file.path, "the optimizer step in the metadata is not the trainer state's \(expectedStep)")
        }
        guard names.count == optimizer.parameters.count else {
            throw TrainingError(file: file.path, "optimizer state does not match the model")
        }
        let states = try names.map { name in
            (moment: try file.tensor(name + ".exp_avg").floats(), velocity: try file.tensor(name + ".exp_avg_sq").floats())
        }
        for (index, state) in states.enumerated() {
            let count = optimizer.parameters[index].count
            guard state.moment.count == count, state.velocity.count == count else {
                throw TrainingError(file: file.path, "optimizer state of \(names[index]) does not match the model")
            }
            // A negative second moment would make every later update NaN.
            guard state.moment.allSatisfy(\.isFinite), state.velocity.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw TrainingError(file: file.path, "optimizer state of \(names[index]) holds NaN, infinite or negative values")
            }
        }
        optimizer.restore(step: step, states: states)
    }
}
