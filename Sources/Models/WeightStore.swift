import Quantization
import SafeTensors
import TrainingCore

/// Hands out a model's weights by Hugging Face name from a checkpoint: frozen f32 weights are
/// views into the memory-mapped file (no copy), trainable ones are copies, f16/bf16 are widened,
/// and bitsandbytes 4-bit weights stay packed as ``QuantizedLinearWeight``.
public final class WeightStore {
    public let checkpoint: Checkpoint
    private let quantized: Set<String>
    /// Prefixes tried in order when a name is missing, so a `BertModel` checkpoint ("embeddings…")
    /// loads into `BertForSequenceClassification` ("bert.embeddings…") and vice versa.
    public var prefixAliases: [(String, String)] = []
    /// Names that were loaded (to report unused checkpoint tensors).
    public private(set) var used = Set<String>()
    /// When set, dense Linear weights that transformers would quantize are quantized to this
    /// 4-bit type (blocks of 64, double quantization) as they load: QLoRA without a 4-bit folder.
    public var quantizeLinearWeights: QuantType?
    /// Frozen bf16 and f16 Linear weights and tables stay so where the checkpoint maps them (no f32
    /// copy); off, they are widened to f32 tensors as trainable ones are.
    public var keepsHalfInPlace = true

    public init(_ checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        quantized = Set(BitsAndBytesLayout.quantizedWeightNames(in: checkpoint))
    }

    /// The checkpoint name that holds `name`, trying prefix aliases.
    func resolve(_ name: String) -> String? {
        if checkpoint.info(name) != nil || quantized.contains(name) { return name }
        for (from, to) in prefixAliases where name.hasPrefix(from) {
            let candidate = to + name.dropFirst(from.count)
            if checkpoint.info(candidate) != nil || quantized.contains(candidate) { return candidate }
        }
        return nil
    }

    public func contains(_ name: String) -> Bool { resolve(name) != nil }

    /// The stored shape of `name` (a 4-bit weight's logical shape is not known here: nil).
    public func storedShape(_ name: String) -> [Int]? { resolve(name).flatMap { checkpoint.info($0)?.shape } }

    /// A dense tensor of `shape`. Trainable tensors are owned copies; frozen f32 ones borrow the
    /// mapping when aligned.
    public func tensor(_ name: String, shape: [Int], trainable: Bool) throws -> Tensor {
        guard let stored = resolve(name) else { throw ModelError(file: checkpoint.path, "missing tensor \(name)") }
        if quantized.contains(stored) {
            let weight = try BitsAndBytesLayout.read(stored, from: checkpoint)
            guard weight.shape == shape else {
                throw ModelError(file: checkpoint.path, "tensor \(stored) has shape \(weight.shape), the config needs \(shape)")
            }
            used.insert(stored)
            return Tensor(weight.dequantized(), shape: shape, requiresGrad: trainable, name: name)
        }
        let view = try checkpoint.tensor(stored)
        guard view.shape == shape else {
            throw ModelError(file: view.file, "tensor \(stored) has shape \(view.shape), the config needs \(shape)")
        }
        guard [.f32, .f16, .bf16, .f64].contains(view.dtype) else {
            throw ModelError(file: view.file, "tensor \(stored) is \(view.dtype.rawValue), not a float type")
        }
        used.insert(stored)
        if !trainable, view.dtype == .f32, let base = view.bytes.baseAddress,
            Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 || view.elementCount == 0
        {
            if view.elementCount == 0 { return Tensor(zeros: shape, name: name) }
            return Tensor(borrowing: base.assumingMemoryBound(to: Float.self), shape: shape, owner: view.storage, name: name)
        }
        return Tensor(try view.floats(), shape: shape, requiresGrad: trainable, name: name)
    }

    /// A Linear layer `[out, in]` (+ bias when `hasBias`): 4-bit when the checkpoint stores it so
    /// (always frozen), else dense.
    public func linear(_ name: String, out: Int, in inFeatures: Int, hasBias: Bool, trainable: Bool) throws -> LinearLayer {
        let weightName = name + ".weight"
        let bias = hasBias ? try tensor(name + ".bias", shape: [out], trainable: trainable) : nil
        if let stored = resolve(weightName), quantized.contains(stored) {
            let weight = try BitsAndBytesLayout.read(stored, from: checkpoint)
            guard weight.shape == [out, inFeatures] else {
                throw ModelError(file: checkpoint.path, "tensor \(stored) has shape \(weight.shape), the config needs \([out, inFeatures])")
            }
            used.insert(stored)
            return LinearLayer(weight: .quantized(QuantizedLinearWeight(weight, name: weightName)), bias: bias)
        }
        if let type = quantizeLinearWeights, !trainable, let stored = resolve(weightName), let info = checkpoint.info(stored),
            ModelQuantizer.isQuantizable(info, skipModules: ["classifier", "score", "pooler"])
        {
            let view = try checkpoint.tensor(stored)
            let values = try view.floats()
            let weight = try values.withUnsafeBufferPointer {
                try QuantizedWeight.quantize(
                    $0, shape: [out, inFeatures], originalDType: view.dtype, type: type, blockSize: 64,
                    doubleQuantization: true, tensor: stored, file: view.file)
            }
            view.releasePages()  // the f32 copy in the page cache is no longer needed by this process
            used.insert(stored)
            return LinearLayer(weight: .quantized(QuantizedLinearWeight(weight, name: weightName)), bias: bias)
        }
        if !trainable, let weight = try halfInPlace(weightName, shape: [out, inFeatures]) {
            return LinearLayer(weight: .half(weight), bias: bias)
        }
        return LinearLayer(weight: .dense(try tensor(weightName, shape: [out, inFeatures], trainable: trainable)), bias: bias)
    }

    /// A Linear layer from a Conv1D (GPT-2), which stores its weight `[in, out]`: the weight is
    /// copied transposed into the `[out, in]` layout every Linear here has, so adapters, merges and
    /// kernels treat it as any other; the bias is as stored.
    public func conv1D(_ name: String, out: Int, in inFeatures: Int, trainable: Bool) throws -> LinearLayer {
        let stored = try tensor(name + ".weight", shape: [inFeatures, out], trainable: false)
        let transposed = Tensor(zeros: [out, inFeatures], requiresGrad: trainable, name: name + ".weight")
        for i in 0..<inFeatures {
            for o in 0..<out { transposed.data[o * inFeatures + i] = stored.data[i * out + o] }
        }
        let bias = try tensor(name + ".bias", shape: [out], trainable: trainable)
        return LinearLayer(weight: .dense(transposed), bias: bias)
    }

    /// A table `[rows, width]` (an embedding): bf16 in place when frozen and stored so, else a
    /// dense tensor.
    public func table(_ name: String, shape: [Int], trainable: Bool) throws -> LinearLayer.Weight {
        if !trainable, let weight = try halfInPlace(name, shape: shape) { return .half(weight) }
        return .dense(try tensor(name, shape: shape, trainable: trainable))
    }

    /// `name` as a bf16 or f16 view into the mapped file (an aligned copy at an odd offset), when
    /// it is stored so and ``keepsHalfInPlace`` is on.
    func halfInPlace(_ name: String, shape: [Int]) throws -> HalfLinearWeight? {
        guard keepsHalfInPlace, let stored = resolve(name), let dtype = checkpoint.info(stored)?.dtype, dtype == .bf16 || dtype == .f16
        else { return nil }
        let format: HalfLinearWeight.Format = dtype == .bf16 ? .bf16 : .f16
        let view = try checkpoint.tensor(stored)
        guard view.shape == shape else {
            throw ModelError(file: view.file, "tensor \(stored) has shape \(view.shape), the config needs \(shape)")
        }
        guard let base = view.bytes.baseAddress, view.elementCount > 0 else { return nil }
        used.insert(stored)
        // safetensors offsets need not be even: an odd one gets an aligned copy.
        if Int(bitPattern: base) % MemoryLayout<UInt16>.alignment == 0 {
            return HalfLinearWeight(
                bits: base.assumingMemoryBound(to: UInt16.self), shape: shape, owner: view.storage, name: name, format: format)
        }
        let copy = AlignedBits(view.bytes)
        return HalfLinearWeight(bits: UnsafePointer(copy.pointer), shape: shape, owner: copy, name: name, format: format)
    }
}

/// 16-bit values copied to 2-byte-aligned memory (a tensor at an odd file offset).
private final class AlignedBits {
    let pointer: UnsafeMutablePointer<UInt16>

    init(_ bytes: UnsafeRawBufferPointer) {
        pointer = .allocate(capacity: bytes.count / 2)
        UnsafeMutableRawPointer(pointer).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count / 2 * 2)
    }

    deinit { pointer.deallocate() }
}
