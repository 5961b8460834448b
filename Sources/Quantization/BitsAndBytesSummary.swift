import SafeTensors

/// What a bitsandbytes 4-bit checkpoint holds, read from its quant states alone (no packed data
/// is touched): each weight's type, block size, nesting and logical shape.
public struct BitsAndBytesSummary: Sendable {
    public struct Weight: Sendable {
        public var name: String
        public var state: QuantState
        public var isNested: Bool { state.nestedBlockSize != nil }
    }

    public var weights: [Weight]
    /// Parameters as the model counts them: a 4-bit weight counts its logical elements, its
    /// statistics (absmax, maps, state) count as none.
    public var parameterCount: Int

    public init(_ checkpoint: Checkpoint) throws {
        var weights: [Weight] = []
        for name in BitsAndBytesLayout.quantizedWeightNames(in: checkpoint) {
            let stateName = QuantType.allCases.map { name + QuantState.keySuffix($0) }.first { checkpoint.info($0) != nil }!
            let view = try checkpoint.tensor(stateName)
            let state = try QuantState(jsonBytes: view.data, file: view.file, tensor: stateName)
            if let packed = checkpoint.info(name) {
                try state.checkFits(packedByteCount: packed.dataOffsets.count, file: view.file, tensor: name)
            }
            weights.append(Weight(name: name, state: state))
        }
        self.weights = weights
        let names = Set(weights.map(\.name))
        var count = weights.reduce(0) { $0 + $1.state.elementCount }
        for info in checkpoint.tensorInfos where !names.contains(info.name) && !BitsAndBytesLayout.isCompanion(info.name, of: names) {
            count += info.elementCount
        }
        parameterCount = count
    }
}
