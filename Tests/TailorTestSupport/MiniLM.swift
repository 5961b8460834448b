import Foundation

/// Where `Scripts/fetch-minilm` puts all-MiniLM-L6-v2; tests that need the real model run only
/// when it is there (and say they were skipped otherwise).
public enum MiniLM {
    public static let folder: String = {
        let cache = ProcessInfo.processInfo.environment["TAILOR_CACHE"] ?? (NSHomeDirectory() + "/.cache/tailor")
        return cache + "/all-MiniLM-L6-v2"
    }()

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: folder + "/model.safetensors") }
}
