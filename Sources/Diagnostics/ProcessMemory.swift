import Foundation

/// The most resident memory this process has held so far (ru_maxrss): what benchmarks report as
/// peak memory, comparable with the same figure of a Python process.
public func peakResidentBytes() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    // Kilobytes on Linux, bytes on Darwin.
    return usage.ru_maxrss * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss
    #endif
}
