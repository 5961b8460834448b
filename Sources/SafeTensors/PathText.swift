/// The folder and the name of a path, split at its last "/". Foundation's NSString path methods
/// are not used for this: on Linux they trap on one-character paths such as "o" or "a/"
/// (swift-corelibs-foundation, Swift 6.3), and users name outputs like that.
public enum PathText {
    /// The folder holding `path` ("." for a bare name, "/" for a top-level entry); a trailing
    /// slash is ignored.
    public static func folder(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let folder = String(trimmed[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// The last component of `path` (a trailing slash ignored).
    public static func name(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard trimmed != "/", let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    static func trimmingTrailingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}
