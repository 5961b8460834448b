import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a plain socket: the tests need what URLSession hides (reading
/// a stream chunk by chunk, hanging up in the middle of one, raw status lines).
public final class HTTPTestClient: @unchecked Sendable {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func json() throws -> [String: Any] { try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:] }
        /// The `data:` payloads of a server-sent-event body.
        public var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { $0.hasPrefix("data: ") ? String($0.dropFirst(6)) : nil }
        }
    }

    public let port: Int
    private var socket: Int32 = -1
    private var buffer = Data()

    public init(port: Int) { self.port = port }

    deinit { close() }

    /// Sends one request (Connection: close) and reads the whole answer.
    public static func send(
        port: Int, _ method: String, _ path: String, json: Any? = nil, body: Data? = nil, headers: [String: String] = [:]
    ) async throws -> Reply {
        let client = HTTPTestClient(port: port)
        let payload = try body ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await onThread {
            try client.open(method, path, body: payload, headers: headers)
            return try client.readReply()
        }
    }

    /// Runs blocking socket work on a thread of its own: on the two threads of Swift's shared
    /// pool (two cores) a few waiting clients would starve the server's own handlers.
    public static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    public func open(_ method: String, _ path: String, body: Data?, headers: [String: String] = [:]) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure("connect to port \(port) failed (errno \(errno))") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        var bytes = Data((head + "\r\n").utf8)
        if let body { bytes.append(body) }
        try bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(socket, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure("send failed") }
                sent += n
            }
        }
    }

    /// Reads the status line and headers.
    public func readHead() throws -> (status: Int, headers: [String: String]) {
        let end = try readUntil(Data("\r\n\r\n".utf8))
        let lines = String(decoding: end, as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where line.contains(":") {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// The next chunk of a chunked body (nil at its end).
    public func readChunk() throws -> Data? {
        let sizeLine = String(decoding: try readUntil(Data("\r\n".utf8)), as: UTF8.self)
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw Failure("bad chunk size \(sizeLine)") }
        if size == 0 { return nil }
        let chunk = try readExactly(size)
        _ = try readExactly(2)
        return chunk
    }

    public func readReply() throws -> Reply {
        let (status, headers) = try readHead()
        var body = Data()
        if headers["transfer-encoding"]?.contains("chunked") == true {
            while let chunk = try readChunk() { body.append(chunk) }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            body = try readExactly(length)
        } else {
            while let more = try receive() { body.append(more) }
        }
        close()
        return Reply(status: status, headers: headers, body: body)
    }

    public func close() {
        if socket >= 0 { Glibc.close(socket) }
        socket = -1
    }

    private func receive() throws -> Data? {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = recv(socket, &bytes, bytes.count, 0)
        if n < 0 { throw Failure("recv failed (errno \(errno))") }
        return n == 0 ? nil : Data(bytes[0..<n])
    }

    private func readUntil(_ marker: Data) throws -> Data {
        while true {
            if let range = buffer.range(of: marker) {
                let head = buffer[buffer.startIndex..<range.lowerBound]
                buffer = Data(buffer[range.upperBound...])
                return Data(head)
            }
            guard let more = try receive() else { throw Failure("connection closed before \(marker)") }
            buffer.append(more)
        }
    }

    private func readExactly(_ count: Int) throws -> Data {
        while buffer.count < count {
            guard let more = try receive() else { throw Failure("connection closed early") }
            buffer.append(more)
        }
        let head = buffer.prefix(count)
        buffer = Data(buffer.dropFirst(count))
        return Data(head)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}
