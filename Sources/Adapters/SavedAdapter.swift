/// Where a newly made adapter (merged, extracted) went: a PEFT folder, a registry version, or
/// both. Reports of the jobs that make adapters embed it, so they print these keys alike.
public struct SavedAdapter: Codable, Sendable, Equatable {
    /// The registry version the adapter was stored as.
    public struct Registered: Codable, Sendable, Equatable {
        public var name: String
        public var version: Int

        public enum CodingKeys: String, CodingKey, CaseIterable { case name, version }

        public init(name: String, version: Int) {
            self.name = name
            self.version = version
        }
    }

    /// The PEFT folder written, if any (printed as null when none, so the key is always there).
    public var output: String?
    public var registered: Registered?

    public init(output: String?, registered: Registered?) {
        self.output = output
        self.registered = registered
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(registered, forKey: .registered)
    }
}
