/// GPT-2's reversible map from bytes to printable characters: byte-level BPE vocabularies are
/// written in these characters (a space byte is "Ġ", a newline "Ċ").
enum ByteLevelAlphabet {
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var scalars = [Unicode.Scalar](repeating: " ", count: 256)
        for byte in printable { scalars[byte] = Unicode.Scalar(UInt32(byte))! }
        var next: UInt32 = 256
        for byte in 0..<256 where !printable.contains(byte) {
            scalars[byte] = Unicode.Scalar(next)!
            next += 1
            printable.append(byte)
        }
        return scalars
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The UTF-8 bytes of `text` spelled in the alphabet.
    static func encode(_ text: Substring) -> String {
        var out = String.UnicodeScalarView()
        for byte in text.utf8 { out.append(byteToScalar[Int(byte)]) }
        return String(out)
    }

    /// Back to text (invalid UTF-8 becomes U+FFFD, as the Rust decoder's lossy conversion).
    static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if let byte = scalarToByte[scalar.value] { bytes.append(byte) } else { bytes.append(contentsOf: Array(String(scalar).utf8)) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
