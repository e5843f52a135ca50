import Foundation
import JSONRPC

/// A `clipascene serve` child process, spoken to over line framing one request at a time: the
/// benches drive the engine the way a client does, and can drive another build of it the same way.
final class ServedEngine {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffered = Data()
    private var nextID = 1

    /// Starts `executable` with `arguments` (which begin with `serve`); its stderr is dropped.
    init(executable: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw UserFacingError(description: "\(executable) could not be started: \(error.localizedDescription)")
        }
    }

    /// Sends a request, waits for its answer (skipping notifications) and returns its result;
    /// an error answer is thrown with the server's message.
    @discardableResult
    func call(_ method: String, _ params: String) throws -> JSON {
        let id = nextID
        nextID += 1
        input.fileHandleForWriting.write(Data("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"\(method)\",\"params\":\(params)}\n".utf8))
        while true {
            if let nl = buffered.firstIndex(of: 0x0A) {
                let line = buffered[buffered.startIndex..<nl]
                buffered.removeSubrange(buffered.startIndex...nl)
                guard let message = try? JSON.parse([UInt8](line)), message["id"] == .int(id) else { continue }
                if let error = message["error"] {
                    let text = error["message"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "\(error)"
                    throw UserFacingError(description: "the server refused \(method): \(text)")
                }
                return message["result"] ?? .null
            }
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { throw UserFacingError(description: "the server exited during \(method)") }
            buffered.append(more)
        }
    }

    /// The child's peak resident memory so far (VmHWM), in bytes; nil where /proc cannot say.
    var peakMemory: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = line.split(separator: " ").compactMap({ Int($0) }).first else { return nil }
        return kB * 1024
    }

    /// `shutdown`, `exit`, and waits for the process to end.
    func stop() throws {
        try call("shutdown", "null")
        input.fileHandleForWriting.write(Data("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}\n".utf8))
        process.waitUntilExit()
    }
}
