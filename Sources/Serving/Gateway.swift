import Hummingbird

/// What every request passes first: the API key check (with `--api-key-file`), the request
/// counter by endpoint and status, and OpenAI's error shape for the router's own errors.
struct Gateway<Context: RequestContext>: RouterMiddleware {
    let apiKey: [UInt8]?
    let metrics: ServerMetrics
    static var endpoints: Set<String> {
        [
            "/v1/completions", "/v1/chat/completions", "/v1/classify", "/v1/models", "/v1/load_lora_adapter", "/v1/unload_lora_adapter",
            "/health", "/metrics",
        ]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let endpoint = Self.endpoints.contains(path) ? path : "other"
        let response: Response
        if let apiKey, path.hasPrefix("/v1/"), !Self.authorized(request.headers[.authorization], key: apiKey) {
            response = HTTPResponses.error(.unauthorized)
        } else {
            do {
                response = try await next(request, context)
            } catch let error as HTTPError {
                let code = Int(error.status.code)
                let message = code == 404 ? "no route \(request.method) \(path)" : error.body ?? error.status.reasonPhrase
                response = HTTPResponses.error(
                    ServingError(status: code, message, type: code < 500 ? "invalid_request_error" : "server_error"))
            }
        }
        metrics.request(endpoint: endpoint, status: Int(response.status.code))
        return response
    }

    /// Whether `header` is `Bearer <key>`, compared in time that depends on the key's length only.
    static func authorized(_ header: String?, key: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst("Bearer ".utf8.count))
        var difference: UInt8 = given.count == key.count ? 0 : 1
        for index in key.indices { difference |= key[index] ^ (index < given.count ? given[index] : 0) }
        return difference == 0
    }
}
