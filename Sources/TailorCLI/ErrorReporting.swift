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
        printError(oneLine(error), file: fileNamed(by: error))
        throw ExitCode(1)
    }
}

/// Whether the command line asks for JSON output: errors then also go to stdout as one JSON
/// object, so a consumer reading stdout sees why there is no result. Read from the arguments
/// because an error may come before parsing finishes.
let jsonRequested = CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json")

/// The file an error names. Every module's error type keeps it in a `file` property; reading it
/// by reflection keeps the format modules free of a shared error protocol.
func fileNamed(by error: any Error) -> String? {
    Mirror(reflecting: error).children.first { $0.label == "file" }?.value as? String
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

func printError(_ line: String, file: String? = nil) {
    FileHandle.standardError.write(Data("tailor: error: \(line)\n".utf8))
    if jsonRequested {
        let object: PythonJSONText.Value = .object([
            "error": .object(["message": .string(line), "file": file.map { .string($0) } ?? .null])
        ])
        print(PythonJSONText.renderCompact(object))
        fflush(nil)
    }
}

/// Something the user should know that does not stop the command (on stderr, so --json stays clean).
func printWarning(_ line: String) {
    FileHandle.standardError.write(Data("tailor: warning: \(line)\n".utf8))
}

/// A problem found in the command's own arguments after parsing (a bad regex, a bad size).
struct UsageProblem: Error, CustomStringConvertible {
    var description: String
}
