import ArgumentParser
import Foundation
import SafeTensors

/// Runs a command body, turning any error into one line on standard error and exit code 1, so
/// bad input never ends in a trap or a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    Interrupts.install()
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        printError(oneLine(error))
        throw ExitCode(1)
    }
}

/// An error as a single line: our typed errors carry file and tensor already.
func oneLine(_ error: any Error) -> String {
    let text: String
    switch error {
    case let error as SafeTensorsError: text = error.description
    case let error as CocoaError:
        let path = error.filePath ?? (error.userInfo[NSFilePathErrorKey] as? String)
        text = (path.map { "\($0): " } ?? "") + error.localizedDescription
    default: text = String(describing: error)
    }
    return text.replacingOccurrences(of: "\n", with: " ")
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data("tailor: error: \(line)\n".utf8))
}

/// Something the user should know that does not stop the command (on stderr, so --json stays clean).
func printWarning(_ line: String) {
    FileHandle.standardError.write(Data("tailor: warning: \(line)\n".utf8))
}

/// A problem found in the command's own arguments after parsing (a bad regex, a bad size).
struct UsageProblem: Error, CustomStringConvertible {
    var description: String
}
