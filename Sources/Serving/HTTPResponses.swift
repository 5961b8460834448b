import Foundation
import Hummingbird
import NIOCore

/// JSON and server-sent-event bodies, and OpenAI's error object, for every route.
enum HTTPResponses {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try encoder().encode(value)
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return self.error(.internalError(error))
        }
    }

    static func error(_ error: ServingError) -> Response {
        var response = json(error.body, status: HTTPResponse.Status(code: error.status))
        if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        if error.status == 401 { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    /// One server-sent event: `data: {json}` and a blank line.
    static func event(_ value: some Encodable) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes((try? encoder().encode(value)) ?? Data("{}".utf8))
        buffer.writeString("\n\n")
        return buffer
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    static let eventStreamHeaders: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]

    /// The request's JSON body as `T`; a 400 naming the field when it is not.
    static func decode<T: Decodable>(_ request: Request, limit: Int) async throws -> T {
        try decode(try await body(request, limit: limit))
    }

    /// The request's body, at most `limit` bytes (else a 413).
    static func body(_ request: Request, limit: Int) async throws -> Data {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        guard buffer.readableBytes > 0 else { throw ServingError.invalid("the request has no body; send JSON") }
        return Data(buffer.readableBytesView)
    }

    static func decode<T: Decodable>(_ data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw servingError(error)
        } catch {
            throw ServingError.invalid("the request body is not valid JSON: \(error)")
        }
    }

    /// Milliseconds since `start`, for log lines.
    static func milliseconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.1f", Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    /// The error a thrown value means to a client.
    static func servingError(_ error: any Error) -> ServingError {
        if let error = error as? ServingError { return error }
        if let error = error as? DecodingError { return .invalid("the request body is not what the endpoint takes: \(describe(error))") }
        if error is NIOTooManyBytesError || (error as? HTTPError)?.status == .contentTooLarge {
            return ServingError(
                status: 413, "the request body is larger than the server takes", type: "invalid_request_error", code: "body_too_large")
        }
        return .internalError(error)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at `\(keys.joined(separator: "."))`"
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field `\(key.stringValue)`\(path(context))"
        case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
        case .valueNotFound(let type, let context): return "expected \(type)\(path(context)), got null"
        case .dataCorrupted(let context): return context.debugDescription + path(context)
        @unknown default: return "\(error)"
        }
    }
}
