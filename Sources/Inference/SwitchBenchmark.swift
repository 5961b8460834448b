import Adapters
import Foundation
import Models
import TrainingCore

/// Timings of serving several adapters on one base: attaching an adapter (its files produced by
/// `load`, e.g. decompressed from the registry), switching the active one, forward throughput of a
/// batch on one adapter versus a batch mixing all of them row by row, and folding one adapter into
/// the base weights in memory (PEFT's merge_and_unload).
public enum SwitchBenchmark {
    public struct Result: Sendable {
        /// Per adapter, the best time from reference to attached slot.
        public var loadSeconds: [Double]
        public var switchSeconds: Double
        public var singleTokensPerSecond: Double
        public var mixedTokensPerSecond: Double
        public var mergeSeconds: Double
    }

    public static func run(folder: String, adapters: [() throws -> AdapterFiles], batch: Int, length: Int, steps: Int,
                           loadRepeats: Int = 5) throws -> Result {
        let model = try ModelLoader.load(folder: folder, head: .sequenceClassification)
        let slots = AdapterSlots(base: model)
        var loadSeconds: [Double] = []
        for (index, load) in adapters.enumerated() {
            var best = Double.infinity
            for repeat_ in 0..<loadRepeats {
                let start = DispatchTime.now().uptimeNanoseconds
                try slots.attach("adapter\(index)-\(repeat_)", [(AdapterStack.Member(reference: "adapter\(index)"), try load())])
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            loadSeconds.append(best)
        }
        // The slots of the last load of each adapter serve the rest.
        let served = adapters.indices.map { slots.slot(named: "adapter\($0)-\(loadRepeats - 1)")! }
        // Switching is choosing the slots a forward pass carries: the pass's routing is built
        // and handed over, nothing in the model changes.
        let switches = 1_000_000
        let start = DispatchTime.now().uptimeNanoseconds
        var routed = 0
        for i in 0..<switches { routed &+= Graph(recording: false, adapterSlots: [served[i % served.count]]).adapterSlots.count }
        let switchSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(max(switches, routed))

        var rng = RandomGenerator(seed: 7)
        // Above the special tokens of a real vocabulary (a tiny one has few).
        let vocabulary = model.vocabularySize
        let low = min(1000, vocabulary / 2)
        let ids = (0..<batch).map { _ in (0..<length).map { _ in low + Int(rng.next() % UInt64(vocabulary - low)) } }
        let tokens = TokenBatch(ids: ids)
        func throughput(_ rowSlots: [Int]) -> Double {
            _ = model.forward(Graph(recording: false, adapterSlots: rowSlots), tokens)
            var best = Double.infinity
            for _ in 0..<steps {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = model.forward(Graph(recording: false, adapterSlots: rowSlots), tokens)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return Double(batch * length) / best
        }
        let single = throughput([Int](repeating: served[0], count: batch))
        let mixed = throughput((0..<batch).map { served[$0 % served.count] })

        let merged = try ModelLoader.load(folder: folder, head: .sequenceClassification)
        _ = try PEFTAdapterFolder.loadAny(try adapters[0](), into: merged)
        let mergeStart = DispatchTime.now().uptimeNanoseconds
        try BaseMerge.mergeAndUnload(merged)
        let mergeSeconds = Double(DispatchTime.now().uptimeNanoseconds - mergeStart) / 1e9
        return Result(loadSeconds: loadSeconds, switchSeconds: switchSeconds, singleTokensPerSecond: single, mixedTokensPerSecond: mixed,
                      mergeSeconds: mergeSeconds)
    }
}
