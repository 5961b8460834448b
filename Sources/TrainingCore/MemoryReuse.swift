import CTrainingKernels

/// A training step allocates and frees the same large activation buffers every step. glibc
/// serves big allocations with fresh mmap'd pages by default, so each step paid for page faults
/// and the kernel zeroing pages (a quarter of a MiniLM step). Raising the mmap and trim
/// thresholds keeps freed buffers in the heap for the next step.
enum MemoryReuse {
    static let configured: Bool = {
        tk_configure_allocator()
        return true
    }()
}
