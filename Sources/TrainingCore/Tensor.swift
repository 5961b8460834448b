/// An f32 tensor: a shape over contiguous row-major storage, and (when it takes part in
/// training) a gradient buffer of the same size.
///
/// Storage is either owned (allocated and zeroed here) or borrowed: a frozen weight viewed in
/// place inside a memory-mapped checkpoint, never written and never copied. Shapes are written
/// the same way everywhere: `[B, T, C]` activations, `[out, in]` Linear weights.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    /// The values. Borrowed storage is read-only: do not write through it.
    public let data: UnsafeMutablePointer<Float>
    /// Keeps borrowed storage (a mapped file) alive.
    private let owner: AnyObject?
    private let ownsData: Bool
    /// Whether gradients flow to this tensor. Frozen parameters have none and get no buffer.
    public var requiresGrad: Bool
    /// The accumulated gradient, allocated (zeroed) on first use.
    public private(set) var grad: UnsafeMutablePointer<Float>?
    /// A name for errors and reports (the Hugging Face parameter name for weights).
    public var name: String

    /// A new zero-filled tensor.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false, name: String = "") {
        self.init(uninitialized: shape, requiresGrad: requiresGrad, name: name)
        data.update(repeating: 0, count: max(count, 1))
    }

    /// A new tensor whose values the caller writes in full (ops' outputs): skips zero-filling.
    public init(uninitialized shape: [Int], requiresGrad: Bool = false, name: String = "") {
        _ = MemoryReuse.configured
        self.shape = shape
        count = Self.elementCount(shape)
        data = .allocate(capacity: max(count, 1))
        owner = nil
        ownsData = true
        self.requiresGrad = requiresGrad
        self.name = name
    }

    /// A new tensor holding a copy of `values`.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false, name: String = "") {
        precondition(values.count == Self.elementCount(shape), "\(values.count) values for shape \(shape)")
        self.init(zeros: shape, requiresGrad: requiresGrad, name: name)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A read-only view of memory kept alive by `owner` (e.g. an f32 tensor in a mapped file).
    public init(borrowing pointer: UnsafePointer<Float>, shape: [Int], owner: AnyObject, name: String = "") {
        self.shape = shape
        count = Self.elementCount(shape)
        data = UnsafeMutablePointer(mutating: pointer)
        self.owner = owner
        ownsData = false
        requiresGrad = false
        self.name = name
    }

    deinit {
        if ownsData { data.deallocate() }
        grad?.deallocate()
    }

    /// The values as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The gradient as an array (zeros when none was accumulated).
    public var gradValues: [Float] {
        grad.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [Float](repeating: 0, count: count)
    }

    /// The gradient buffer, allocated and zeroed on first use.
    public func gradBuffer() -> UnsafeMutablePointer<Float> {
        let (buffer, accumulate) = gradBufferForWriting()
        // Zeroed on every core: backward allocates many large gradient buffers.
        if !accumulate {
            Parallel.forRanges(max(count, 1), grain: 1 << 18) { r in (buffer + r.lowerBound).initialize(repeating: 0, count: r.count) }
        }
        return buffer
    }

    /// The gradient buffer for an op that writes its whole contribution in one go (a GEMM):
    /// without a buffer yet, a new one comes back uninitialised with `accumulate` false, so the
    /// op writes instead of adding and the zero fill (and its page faults) is skipped.
    public func gradBufferForWriting() -> (pointer: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if let grad { return (grad, true) }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        grad = buffer
        return (buffer, false)
    }

    /// Takes `source`'s gradient buffer as this tensor's (which has none), leaving `source`
    /// without one.
    func adoptGrad(of source: Tensor) {
        precondition(grad == nil && source.count == count && source !== self)
        grad = source.grad
        source.grad = nil
    }

    /// Sets the gradient to zero (keeps the buffer).
    public func zeroGrad() { grad?.update(repeating: 0, count: count) }

    /// Frees the gradient buffer (e.g. of an intermediate after backward).
    public func releaseGrad() {
        grad?.deallocate()
        grad = nil
    }

    /// Rows × columns when seen as a matrix whose rows are the last dimension.
    public var rows: Int { count / max(shape.last ?? 1, 1) }
    public var columns: Int { shape.last ?? 1 }

    /// The same storage with another shape of the same element count (no copy, shares gradient
    /// semantics only through the graph's reshape op).
    func sameCount(_ other: [Int]) -> Bool { Self.elementCount(other) == count }

    /// Product of `shape`; 0 when a dimension is 0 whatever the others are (a safetensors header
    /// may hold `[2^62, 2, 0]`, whose partial product overflows an Int).
    static func elementCount(_ shape: [Int]) -> Int { shape.contains(0) ? 0 : shape.reduce(1, *) }
}
