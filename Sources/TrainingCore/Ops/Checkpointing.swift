/// The dropout seeds of one checkpointed block: logged while its forward pass runs, replayed in
/// the same order when backward recomputes it.
final class DropoutSeeds {
    private var seeds: [UInt64] = []
    private var replayed = 0
    private let replaying: Bool

    init(replaying other: DropoutSeeds? = nil) {
        seeds = other?.seeds ?? []
        replaying = other != nil
    }

    func next(from generator: inout RandomGenerator) -> UInt64 {
        guard replaying else {
            let seed = generator.next()
            seeds.append(seed)
            return seed
        }
        precondition(replayed < seeds.count, "a recomputed block drew more dropout seeds than its forward pass")
        defer { replayed += 1 }
        return seeds[replayed]
    }
}

extension Graph {
    /// Gradient checkpointing (`torch.utils.checkpoint`): runs `block` on `x` without keeping its
    /// intermediates, and runs it again in backward, recorded this time, to back-propagate through
    /// it. Memory held between forward and backward drops from a block's activations to its
    /// input; the price is one more forward pass of the block.
    ///
    /// `block` must compute the same function both times: it may read parameters and draw
    /// dropout masks (replayed exactly), but must not change state that the second run reads.
    public func checkpoint(_ x: Tensor, _ block: @escaping (Graph, Tensor) -> Tensor) -> Tensor {
        guard recording else { return block(self, x) }
        let seeds = DropoutSeeds()
        let forward = Graph(recording: false, training: training, adapterSlots: adapterSlots, computeDType: computeDType)
        forward.dropoutSeeds = seeds
        let y = block(forward, x)
        recordAlways(y) { [training, adapterSlots, computeDType] dy in
            let input = Tensor(uninitialized: x.shape, requiresGrad: x.requiresGrad, name: x.name)
            input.data.update(from: x.data, count: x.count)
            let replay = Graph(recording: true, training: training, adapterSlots: adapterSlots, computeDType: computeDType)
            replay.dropoutSeeds = DropoutSeeds(replaying: seeds)
            let output = block(replay, input)
            guard output.requiresGrad else { return }
            replay.backward(from: output, gradient: dy)
            guard x.requiresGrad, let gradient = input.grad else { return }
            if x.grad == nil { x.adoptGrad(of: input) } else { self.accumulate(gradient, into: x) }
        }
        return y
    }
}
