import Adapters
import Foundation
import Models
import TrainingCore

/// Timings of serving several adapters on one base: attaching an adapter (its files produced by
/// `load`, e.g. decompressed from the registry), switching the active one, forward throughput of a
/// batch on one adapter versus a batch mixing all of them row by row, and folding one adapter into
/// the base weights in memory (PEFT's merge_and_unload).
public enum SwitchBenchmark {
    /// The timings and the shape they were measured on; `tailor bench switch --json` prints it.
    public struct Result: Codable, Sendable, Equatable {
        /// Sequences per forward pass and tokens per sequence.
        public var batch: Int
        public var length: Int
        /// Per adapter, the best time from reference to attached slot.
        public var loadSeconds: [Double]
        public var switchSeconds: Double
        public var singleTokensPerSecond: Double
        public var mixedTokensPerSecond: Double
        public var mergeSeconds: Double

        /// `mode` tells this result from the step benchmark's (train, infer) in one stream of bench lines;
        /// `adapters` is the count of `load_seconds`, printed for readers who only want that.
        public enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, adapters, batch
            case length = "seq"
            case loadSeconds = "load_seconds"
            case switchSeconds = "switch_seconds"
            case singleTokensPerSecond = "single_tokens_per_s"
            case mixedTokensPerSecond = "mixed_tokens_per_s"
            case mergeSeconds = "merge_seconds"
        }

        public static let mode = "switch"

        public init(
            batch: Int, length: Int, loadSeconds: [Double], switchSeconds: Double, singleTokensPerSecond: Double,
            mixedTokensPerSecond: Double, mergeSeconds: Double
        ) {
            self.batch = batch
            self.length = length
            self.loadSeconds = loadSeconds
            self.switchSeconds = switchSeconds
            self.singleTokensPerSecond = singleTokensPerSecond
            self.mixedTokensPerSecond = mixedTokensPerSecond
            self.mergeSeconds = mergeSeconds
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let mode = try container.decode(String.self, forKey: .mode)
            guard mode == Self.mode else {
                throw DecodingError.dataCorruptedError(forKey: .mode, in: container, debugDescription: "not a switch benchmark: \(mode)")
            }
            try self.init(
                batch: container.decode(Int.self, forKey: .batch), length: container.decode(Int.self, forKey: .length),
                loadSeconds: container.decode([Double].self, forKey: .loadSeconds),
                switchSeconds: container.decode(Double.self, forKey: .switchSeconds),
                singleTokensPerSecond: container.decode(Double.self, forKey: .singleTokensPerSecond),
                mixedTokensPerSecond: container.decode(Double.self, forKey: .mixedTokensPerSecond),
                mergeSeconds: container.decode(Double.self, forKey: .mergeSeconds))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(Self.mode, forKey: .mode)
            try container.encode(loadSeconds.count, forKey: .adapters)
            try container.encode(batch, forKey: .batch)
            try container.encode(length, forKey: .length)
            try container.encode(loadSeconds, forKey: .loadSeconds)
            try container.encode(switchSeconds, forKey: .switchSeconds)
            try container.encode(singleTokensPerSecond, forKey: .singleTokensPerSecond)
            try container.encode(mixedTokensPerSecond, forKey: .mixedTokensPerSecond)
            try container.encode(mergeSeconds, forKey: .mergeSeconds)
        }
    }

    public static func run(
        folder: String, adapters: [() throws -> AdapterFiles], batch: Int, length: Int, steps: Int,
        loadRepeats: Int = 5
    ) throws -> Result {
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
        return Result(
            batch: batch, length: length, loadSeconds: loadSeconds, switchSeconds: switchSeconds, singleTokensPerSecond: single,
            mixedTokensPerSecond: mixed, mergeSeconds: mergeSeconds)
    }
}
