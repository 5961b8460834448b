import Foundation
import Testing

@testable import SafeTensors

/// The official crate's own unit-test vectors, reproduced.
@Suite struct CrateVectorTests {
    static let f32Ramp: [UInt8] = [Float](arrayLiteral: 0, 1, 2, 3, 4, 5).flatMap { value in
        withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }

    @Test func serialization() throws {
        let out = try SafeTensorsWriter.serialize([TensorData(name: "attn.0", dtype: .f32, shape: [1, 2, 3], bytes: Self.f32Ramp)])
        let header = #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#
        #expect(out == [64, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + Self.f32Ramp)
        #expect(try SafeTensorsFile(bytes: out).tensor("attn.0").data == Self.f32Ramp)
    }

    @Test func forcedAlignment() throws {
        let out = try SafeTensorsWriter.serialize([TensorData(name: "attn0", dtype: .f32, shape: [1, 1, 2, 3], bytes: Self.f32Ramp)])
        let header = #"{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}"#
        #expect(out == [72, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + Array(repeating: 32, count: 7) + Self.f32Ramp)
        let view = try SafeTensorsFile(bytes: out).tensor("attn0")
        #expect(Int(bitPattern: view.bytes.baseAddress!) % 4 == 0)
    }

    @Test func fp4() throws {
        let out = try SafeTensorsWriter.serialize([TensorData(name: "attn.0", dtype: .f4, shape: [1, 2], bytes: [0])])
        let header = #"{"attn.0":{"dtype":"F4","shape":[1,2],"data_offsets":[0,1]}}"#
        #expect(out == [64, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [32, 32, 32, 32, 0])
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsWriter.serialize([TensorData(name: "a", dtype: .f4, shape: [1, 3], bytes: [0, 1])])
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsWriter.serialize([TensorData(name: "a", dtype: .f4, shape: [1, 2], bytes: [0, 1])])
        }
    }

    @Test func f6SizesAreSixBitsPerElement() throws {
        let out = try SafeTensorsWriter.serialize([TensorData(name: "x", dtype: .f6E3M2, shape: [2, 4], bytes: [1, 2, 3, 4, 5, 6])])
        let view = try SafeTensorsFile(bytes: out).tensor("x")
        #expect(view.bytes.count == 6)
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsWriter.serialize([TensorData(name: "x", dtype: .f6E2M3, shape: [3], bytes: [0, 0])])
        }
    }

    @Test func empty() throws {
        #expect(try SafeTensorsWriter.serialize([]) == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
        let withMetadata = try SafeTensorsWriter.serialize([], metadata: ["framework": "pt"])
        #expect(withMetadata == [40, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"__metadata__":{"framework":"pt"}}"#.utf8) + [32, 32, 32, 32, 32])
        #expect(try SafeTensorsFile(bytes: withMetadata).metadata == ["framework": "pt"])
    }

    @Test func emptyShapesAllowed() throws {
        let header = #"{"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}"#
        let file = try SafeTensorsFile(bytes: [56, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [0, 0, 0, 0])
        #expect(try file.tensor("test").shape == [])
        #expect(try file.tensor("test").data == [0, 0, 0, 0])
    }

    @Test func deserialization() throws {
        let header = #"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#
        let file = try SafeTensorsFile(bytes: [60, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + Array(repeating: 0, count: 16))
        #expect(file.tensorNames == ["test"])
        #expect(try file.tensor("test").shape == [2, 2])
        #expect(try file.tensor("test").dtype == .i32)
        #expect(throws: SafeTensorsError(file: "<memory>", tensor: "nope", .tensorNotFound)) { try file.tensor("nope") }
    }

    @Test func headerTooLargeOnWrite() {
        let big = String(repeating: "a", count: SafeTensorsHeader.maximumLength)
        #expect(throws: SafeTensorsError.self) { try SafeTensorsWriter.serialize([], metadata: ["very_large_metadata": big]) }
    }

    @Test func reservedAndDuplicateNamesRefusedOnWrite() {
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsWriter.serialize([TensorData(name: "__metadata__", dtype: .u8, shape: [1], bytes: [0])])
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsWriter.serialize([
                TensorData(name: "a", dtype: .u8, shape: [1], bytes: [0]),
                TensorData(name: "a", dtype: .u8, shape: [1], bytes: [0]),
            ])
        }
    }
}
