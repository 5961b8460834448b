import SafeTensors

/// How transformers + bitsandbytes store a 4-bit weight `W` in a checkpoint:
///
/// | key | dtype | shape |
/// |---|---|---|
/// | `W` | U8 (any storage dtype, reinterpreted) | `[(n + 1) / 2, 1]` |
/// | `W.absmax` | F32, or U8 codes when double-quantized | `[blocks]` |
/// | `W.quant_map` | F32 | `[16]` |
/// | `W.nested_absmax` | F32 (double quant only) | `[ceil(blocks / 256)]` |
/// | `W.nested_quant_map` | F32 (double quant only) | `[256]` |
/// | `W.quant_state.bitsandbytes__nf4` (or `__fp4`) | U8: JSON text | `[bytes]` |
public enum BitsAndBytesLayout {
    /// The names of the 4-bit weights in `checkpoint` (those with a quant state tensor).
    public static func quantizedWeightNames(in checkpoint: Checkpoint) -> [String] {
        checkpoint.tensorNames.compactMap { name in
            QuantType.allCases.lazy.map(QuantState.keySuffix).first(where: name.hasSuffix).map { String(name.dropLast($0.count)) }
        }
    }

    /// U8 weights that have an `.absmax` companion but no quant state: 4-bit weights saved by
    /// bitsandbytes before 0.41.3, whose layout did not record how to decode them.
    public static func weightsWithoutQuantState(in checkpoint: Checkpoint) -> [String] {
        let known = Set(quantizedWeightNames(in: checkpoint))
        return checkpoint.tensorNames.compactMap { name in
            guard name.hasSuffix(".absmax") else { return nil }
            let weight = String(name.dropLast(".absmax".count))
            return !known.contains(weight) && checkpoint.info(weight)?.dtype == .u8 ? weight : nil
        }
    }

    /// The error for a weight saved without a quant state.
    static func missingQuantState(_ name: String, file: String) -> QuantizationError {
        QuantizationError(
            file: file, tensor: name,
            "no quant state tensor (\(name).quant_state.bitsandbytes__nf4 or __fp4): "
                + "a 4-bit checkpoint from bitsandbytes older than 0.41.3, which did not store one, cannot be read")
    }

    /// Whether `name` is one of the companion tensors of a 4-bit weight in `weights`.
    public static func isCompanion(_ name: String, of weights: Set<String>) -> Bool {
        for suffix in [".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"] + QuantType.allCases.map(QuantState.keySuffix)
        where name.hasSuffix(suffix) && weights.contains(String(name.dropLast(suffix.count))) {
            return true
        }
        return false
    }

    /// The tensors that store `weight` under `name`, ready for a writer.
    public static func tensors(for weight: QuantizedWeight, name: String) -> [TensorData] {
        var tensors = [TensorData(name: name, dtype: .u8, shape: [weight.packed.count, 1], bytes: weight.packed)]
        tensors.append(TensorData(name: name + ".quant_map", dtype: .f32, shape: [16], bytes: floatBytes(weight.quantMap)))
        var state = QuantState(
            quantType: weight.quantType, blockSize: weight.blockSize,
            dtype: weight.originalDType.torchName, shape: weight.shape)
        if let nested = weight.nested {
            tensors.append(TensorData(name: name + ".absmax", dtype: .u8, shape: [nested.codes.count], bytes: nested.codes))
            tensors.append(
                TensorData(
                    name: name + ".nested_absmax", dtype: .f32, shape: [nested.nestedAbsmax.count],
                    bytes: floatBytes(nested.nestedAbsmax)))
            tensors.append(
                TensorData(
                    name: name + ".nested_quant_map", dtype: .f32, shape: [nested.map.count],
                    bytes: floatBytes(nested.map)))
            state.nestedBlockSize = nested.blockSize
            state.nestedDType = "float32"
            state.nestedOffset = nested.offset
        } else {
            let absmax = weight.absmax ?? []
            tensors.append(TensorData(name: name + ".absmax", dtype: .f32, shape: [absmax.count], bytes: floatBytes(absmax)))
        }
        let json = Array(state.jsonText().utf8)
        tensors.append(TensorData(name: name + QuantState.keySuffix(weight.quantType), dtype: .u8, shape: [json.count], bytes: json))
        return tensors
    }

    /// The specs of ``tensors(for:name:)`` before quantizing, so a streaming writer can lay the
    /// file out first. `state` must be final: its JSON length (the offset's digits) sizes a tensor.
    public static func specs(name: String, state: QuantState) -> [TensorSpec] {
        let elements = state.elementCount
        let blocks = BlockwiseQuantization.blockCount(elements: elements, blockSize: state.blockSize)
        var specs = [
            TensorSpec(name: name, dtype: .u8, shape: [BlockwiseQuantization.packedByteCount(elements: elements), 1]),
            TensorSpec(name: name + ".quant_map", dtype: .f32, shape: [16]),
        ]
        if let nestedBlockSize = state.nestedBlockSize {
            specs.append(TensorSpec(name: name + ".absmax", dtype: .u8, shape: [blocks]))
            specs.append(
                TensorSpec(
                    name: name + ".nested_absmax", dtype: .f32,
                    shape: [BlockwiseQuantization.blockCount(elements: blocks, blockSize: nestedBlockSize)]))
            specs.append(TensorSpec(name: name + ".nested_quant_map", dtype: .f32, shape: [256]))
        } else {
            specs.append(TensorSpec(name: name + ".absmax", dtype: .f32, shape: [blocks]))
        }
        specs.append(TensorSpec(name: name + QuantState.keySuffix(state.quantType), dtype: .u8, shape: [state.jsonText().utf8.count]))
        return specs
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    /// Reads the 4-bit weight `name` from `checkpoint`, checking every companion tensor.
    public static func read(_ name: String, from checkpoint: Checkpoint) throws -> QuantizedWeight {
        let file = checkpoint.file(holding: name)?.path ?? checkpoint.path
        func invalid(_ why: String) -> QuantizationError { QuantizationError(file: file, tensor: name, why) }
        guard
            let stateName = QuantType.allCases.map({ name + QuantState.keySuffix($0) })
                .first(where: { checkpoint.info($0) != nil })
        else {
            throw missingQuantState(name, file: file)
        }
        let state = try QuantState(jsonBytes: checkpoint.tensor(stateName).data, file: file, tensor: stateName)
        guard stateName.hasSuffix(state.quantType.rawValue) else {
            throw invalid("quant state says \(state.quantType.rawValue) but is stored as \(stateName)")
        }
        func companion(_ suffix: String) throws -> TensorView {
            guard checkpoint.info(name + suffix) != nil else { throw invalid("missing companion tensor \(name + suffix)") }
            return try checkpoint.tensor(name + suffix)
        }
        let blocks = BlockwiseQuantization.blockCount(elements: state.elementCount, blockSize: state.blockSize)
        guard let packedInfo = checkpoint.info(name) else { throw invalid("missing the packed weight tensor") }
        // Weights saved with bnb_4bit_quant_storage other than uint8 hold the same bytes.
        try state.checkFits(packedByteCount: packedInfo.dataOffsets.count, file: file, tensor: name)
        let packedView = try checkpoint.tensor(name)
        let quantMap = try companion(".quant_map").floats()
        guard quantMap.count == 16 else { throw invalid("quant_map has \(quantMap.count) values, not 16") }
        let absmaxView = try companion(".absmax")
        var weight = QuantizedWeight(
            quantType: state.quantType, blockSize: state.blockSize, shape: state.shape,
            originalDType: DType(torchName: state.dtype)!,
            packed: packedView.data, absmax: nil, nested: nil, quantMap: quantMap)
        if let nestedBlockSize = state.nestedBlockSize, let offset = state.nestedOffset {
            guard absmaxView.dtype == .u8, absmaxView.bytes.count == blocks else {
                throw invalid(
                    "double-quantized absmax must be \(blocks) U8 codes, found "
                        + "\(absmaxView.elementCount) \(absmaxView.dtype.rawValue)")
            }
            let nestedAbsmax = try companion(".nested_absmax").floats()
            let nestedMap = try companion(".nested_quant_map").floats()
            guard nestedAbsmax.count == BlockwiseQuantization.blockCount(elements: blocks, blockSize: nestedBlockSize) else {
                throw invalid("nested_absmax has \(nestedAbsmax.count) values for \(blocks) blocks of \(nestedBlockSize)")
            }
            guard nestedMap.count == 256 else { throw invalid("nested_quant_map has \(nestedMap.count) values, not 256") }
            weight.nested = NestedAbsmax(
                codes: absmaxView.data, nestedAbsmax: nestedAbsmax, offset: offset,
                blockSize: nestedBlockSize, map: nestedMap)
        } else {
            let absmax = try absmaxView.floats()
            guard absmax.count == blocks else { throw invalid("absmax has \(absmax.count) values, \(blocks) blocks need one each") }
            weight.absmax = absmax
        }
        return weight
    }
}
