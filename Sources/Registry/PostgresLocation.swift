import Foundation

/// A registry database as users name it: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`
/// (`postgresql://` too). The password may also come from `PGPASSWORD`, the user from `PGUSER`.
/// Messages name the URL without its password.
public struct PostgresLocation: Sendable, Equatable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func invalid(_ why: String) -> RegistryError {
            RegistryError(file: Self.redacted(text), "\(why) (a registry database is postgres://USER@HOST:PORT/DB)")
        }
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw invalid("is not a PostgreSQL URL")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("names no host") }
        self.host = host
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("port \(port) is out of range") }
        user = components.user ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        password = components.password ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else { throw invalid("has more than a database name in its path") }
        database = path.isEmpty ? user : path
        tls = .disable
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw invalid("sslmode=\(item.value ?? "") is not one of disable, prefer, require")
                }
            case "connect_timeout", "application_name": continue
            default: throw invalid("option \"\(item.name)\" is not understood")
            }
        }
    }

    /// The URL with no password, as errors and listings show it.
    public var display: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// `text` with any password replaced, for messages about a URL that did not parse.
    static func redacted(_ text: String) -> String {
        guard let at = text.range(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at.lowerBound else { return text }
        let credentials = text[scheme.upperBound..<at.lowerBound]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at.lowerBound...])
    }
}
