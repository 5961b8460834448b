import Foundation

/// One process alone: rank 0 of 1. Every collective leaves its values as they are.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func barrier() {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) {}
    public func abort(code: Int32) -> Never { exit(code) }
}
