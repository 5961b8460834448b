import Foundation

/// A request the server refuses or could not finish, with the HTTP status and OpenAI's error
/// object: `{"error": {"message", "type", "param", "code"}}`, the shape the `openai` client
/// raises as `BadRequestError`, `NotFoundError`, `RateLimitError` and so on.
public struct ServingError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var code: String?
    public var param: String?
    /// Seconds a client should wait before trying again (429 and 503).
    public var retryAfter: Int?

    public init(status: Int, _ message: String, type: String, code: String? = nil, param: String? = nil, retryAfter: Int? = nil) {
        (self.status, self.message, self.type, self.code, self.param, self.retryAfter) = (status, message, type, code, param, retryAfter)
    }

    public var description: String { message }

    public static func invalid(_ message: String, param: String? = nil) -> ServingError {
        ServingError(status: 400, message, type: "invalid_request_error", code: "invalid_value", param: param)
    }

    public static func modelNotFound(_ name: String, _ detail: String) -> ServingError {
        ServingError(
            status: 404, "The model `\(name)` does not exist: \(detail)", type: "invalid_request_error", code: "model_not_found",
            param: "model")
    }

    public static func queueFull(_ limit: Int) -> ServingError {
        ServingError(
            status: 429, "the server's queue holds \(limit) requests already; retry later", type: "rate_limit_error",
            code: "queue_full", retryAfter: 1)
    }

    public static let unauthorized = ServingError(
        status: 401, "missing or wrong API key: send `Authorization: Bearer <key>`", type: "invalid_request_error",
        code: "invalid_api_key")

    public static let loading = ServingError(
        status: 503, "the model is still loading", type: "server_error", code: "loading", retryAfter: 1)

    public static let shuttingDown = ServingError(
        status: 503, "the server is shutting down", type: "server_error", code: "shutting_down", retryAfter: 1)

    public static func timedOut(after seconds: Double) -> ServingError {
        ServingError(
            status: 408, "the request did not finish within --request-timeout \(seconds.formatted()) s", type: "timeout_error",
            code: "timeout")
    }

    public static func internalError(_ error: any Error) -> ServingError {
        ServingError(status: 500, "\(error)", type: "server_error", code: "internal_error")
    }

    /// The JSON body OpenAI's API answers an error with.
    public var body: ErrorBody { ErrorBody(error: .init(message: message, type: type, param: param, code: code)) }

    public struct ErrorBody: Codable, Sendable {
        public struct Detail: Codable, Sendable {
            public var message: String
            public var type: String
            public var param: String?
            public var code: String?
        }
        public var error: Detail
    }
}
