import Quantization
import SafeTensors
import TrainingCore

extension TransformerModel {
    /// Replaces the output head with an in-memory 4-bit copy, for inference only: decoding reads
    /// the whole head every token (a quarter of Llama-3.2-1B's weights), and llama.cpp quantizes
    /// its output layer too. bitsandbytes and transformers keep it in 16 bits, as the loaded model
    /// does unless asked. A tied embedding table stays as it is for the input lookup.
    ///
    /// Quantized a band of rows at a time (blocks of 64 never straddle bands), so the f32 copy of a
    /// 128,256-row head never exists whole; absmax is kept in f32 (no double quantization: it
    /// needs every block's absmax first, and saves 12 MB of a 1B model's head).
    public func quantizeOutputHead(_ type: QuantType) throws { try quantizeOutputHead(type, bandElements: 1 << 22) }

    func quantizeOutputHead(_ type: QuantType, bandElements: Int) throws {
        guard let name = outputModuleName, var layer = linear(named: name) else {
            throw ModelError(file: "lm_head", "the model has no output head to quantize")
        }
        let (rows, width) = (layer.outFeatures, layer.inFeatures)
        let widen: (Range<Int>, UnsafeMutablePointer<Float>) -> Void
        var stored = DType.bf16
        switch layer.weight {
        case .quantized: return
        case .dense(let tensor):
            stored = .f32
            widen = { band, buffer in buffer.update(from: tensor.data + band.lowerBound * width, count: band.count * width) }
        case .half(let weight): widen = { band, buffer in weight.widenRows(band, into: buffer) }
        }
        let blockSize = 64
        let rowsPerBlock = blockSize / gcd(width, blockSize)
        let bandRows = max(rowsPerBlock, bandElements / max(width, 1) / rowsPerBlock * rowsPerBlock)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: bandRows * width)
        defer { buffer.deallocate() }
        var packed: [UInt8] = [], absmax: [Float] = []
        packed.reserveCapacity((rows * width + 1) / 2)
        absmax.reserveCapacity(BlockwiseQuantization.blockCount(elements: rows * width, blockSize: blockSize))
        var quantMap: [Float] = []
        for start in stride(from: 0, to: rows, by: bandRows) {
            let band = start..<min(rows, start + bandRows)
            widen(band, buffer)
            let part = try QuantizedWeight.quantize(
                UnsafeBufferPointer(start: buffer, count: band.count * width), shape: [band.count, width], originalDType: stored,
                type: type, blockSize: blockSize, doubleQuantization: false, tensor: name + ".weight", file: name)
            packed += part.packed
            absmax += part.absmax ?? []
            quantMap = part.quantMap
        }
        let weight = QuantizedWeight(
            quantType: type, blockSize: blockSize, shape: [rows, width], originalDType: stored, packed: packed, absmax: absmax,
            nested: nil, quantMap: quantMap)
        layer.weight = .quantized(QuantizedLinearWeight(weight, name: name + ".weight"))
        setLinear(layer, named: name)
    }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
