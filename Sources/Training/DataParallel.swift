import Collectives
import Foundation
import TrainingCore

// Data-parallel training (`mpirun -np N tailor train …`): the batch size is the global batch;
// each rank runs forward and backward on its contiguous share of it, with its loss weighted by
// its share of the batch's loss terms, and one all-reduce per optimizer step sums the gradients
// so that every rank clips and updates identically. Rank 0's model is sent to the others when a
// run starts (a resumed run's included), and the ranks compare their weights when it ends.

/// The all-reduces of a training run and their cost: the per-micro-batch loss sums and the
/// per-step gradient sum, packed into one flat buffer reused from step to step.
struct GradientExchange {
    /// Every trainable gradient end to end, then one flag per parameter (whether any rank has a
    /// gradient for it), then whether any rank was asked to stop.
    private var buffer: [Float] = []
    /// Time spent exchanging once every rank had arrived, time spent waiting for the slowest
    /// rank before that (monotonic clock), and the bytes each rank handed in.
    private(set) var seconds = 0.0
    private(set) var waitSeconds = 0.0
    private(set) var bytes = 0

    /// The element-wise sums of `values` over every rank.
    mutating func addUp(_ values: [Double], over communicator: any Communicator) -> [Double] {
        var sums = values
        timed(bytes: sums.count * MemoryLayout<Double>.size, communicator) { communicator.allReduceSum(&sums) }
        return sums
    }

    /// Replaces every parameter's gradient by its sum over the ranks; a parameter no rank has a
    /// gradient for keeps none (the optimizer skips it, as it does alone). Returns whether any
    /// rank's `stop` was set.
    mutating func sumGradients(_ parameters: [Tensor], stop: Bool, over communicator: any Communicator) -> Bool {
        let total = parameters.reduce(0) { $0 + $1.count }
        if buffer.count != total + parameters.count + 1 { buffer = [Float](repeating: 0, count: total + parameters.count + 1) }
        buffer.withUnsafeMutableBufferPointer { flat in
            var offset = 0
            for (index, parameter) in parameters.enumerated() {
                let target = flat.baseAddress! + offset
                if let grad = parameter.grad {
                    target.update(from: grad, count: parameter.count)
                } else {
                    target.update(repeating: 0, count: parameter.count)
                }
                flat[total + index] = parameter.grad == nil ? 0 : 1
                offset += parameter.count
            }
            flat[total + parameters.count] = stop ? 1 : 0
        }
        var flat = buffer
        buffer = []
        timed(bytes: flat.count * MemoryLayout<Float>.size, communicator) { communicator.allReduceSum(&flat) }
        buffer = flat
        buffer.withUnsafeBufferPointer { flat in
            var offset = 0
            for (index, parameter) in parameters.enumerated() {
                if flat[total + index] > 0 { parameter.gradBuffer().update(from: flat.baseAddress! + offset, count: parameter.count) }
                offset += parameter.count
            }
        }
        return buffer[total + parameters.count] > 0
    }

    /// Runs the all-reduce `body` after a barrier, so that its time is the exchange alone and the
    /// barrier's is the imbalance between ranks (a barrier costs one latency, microseconds).
    private mutating func timed(bytes count: Int, _ communicator: any Communicator, _ body: () -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        communicator.barrier()
        let arrived = DispatchTime.now().uptimeNanoseconds
        body()
        waitSeconds += Double(arrived - start) / 1e9
        seconds += Double(DispatchTime.now().uptimeNanoseconds - arrived) / 1e9
        bytes += count
    }
}

extension Trainer {
    /// Dropout's seed on this rank: the run's seed on rank 0 (so one rank trains as one process
    /// does), mixed with the rank on the others so no two ranks draw the same masks.
    var dropoutSeed: UInt64 {
        communicator.rank == 0 ? arguments.seed : arguments.seed ^ (UInt64(communicator.rank) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Gives every rank rank 0's trainable weights, optimizer state and trainer state: the same
    /// seed builds the same model anyway, and a resumed run's checkpoint is read by rank 0 alone
    /// (the other machines need no copy of it).
    func synchronizeFromRoot() throws {
        broadcastTrainable()
        let names = model.trainable.map(\.0)
        var moments: [Float] = []
        if communicator.isRoot {
            for index in names.indices {
                let (m, v) = optimizer.state(of: index)
                moments += m + v
            }
        } else {
            moments = [Float](repeating: 0, count: 2 * optimizer.parameters.reduce(0) { $0 + $1.count })
        }
        moments.withUnsafeMutableBytes { communicator.broadcast($0, from: 0) }
        var offset = 0
        let states = optimizer.parameters.map { parameter in
            defer { offset += 2 * parameter.count }
            return (
                moment: Array(moments[offset..<(offset + parameter.count)]),
                velocity: Array(moments[(offset + parameter.count)..<(offset + 2 * parameter.count)])
            )
        }
        let encoded = communicator.isRoot ? Array(try JSONEncoder().encode(state)) : []
        let received = communicator.broadcast(encoded, from: 0)
        let rootState = try JSONDecoder().decode(TrainerState.self, from: Data(received))
        optimizer.restore(step: rootState.globalStep, states: states)
        state = rootState
    }

    /// Gives every rank rank 0's trainable weights.
    func broadcastTrainable() {
        for (_, tensor) in model.trainable {
            communicator.broadcast(
                UnsafeMutableRawBufferPointer(start: tensor.data, count: tensor.count * MemoryLayout<Float>.size), from: 0)
        }
    }

    /// Refuses to save a result when the ranks' weights differ: they take identical steps, so a
    /// difference means an exchange went wrong (and every rank decides the same here).
    func checkRanksAgree() throws {
        var sum = 0.0, squares = 0.0
        for (_, tensor) in model.trainable {
            for index in 0..<tensor.count {
                let value = Double(tensor.data[index])
                sum += value
                squares += value * value
            }
        }
        var extremes = [sum, squares, -sum, -squares]
        communicator.allReduceMax(&extremes)
        guard extremes[0] == -extremes[2], extremes[1] == -extremes[3] else {
            throw TrainingError(
                file: output,
                "the \(communicator.size) ranks ended with different weights (sums \(-extremes[2])…\(extremes[0])); "
                    + "nothing was saved")
        }
    }
}
