import Foundation
import JSONRPC
import XCTest
import Server
import TestSupport

/// `clipascene serve` in a child process with pipes, spoken to in either framing. Every message
/// both ways is checked against the OpenRPC document; problems are collected in `schemaProblems`.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let framing: Framing
    let stateDirectory: String
    private let input = Pipe(), output = Pipe(), errors = Pipe()
    private let condition = NSCondition()
    private var received: [JSON] = []
    private var methodsByID: [String: String] = [:]
    private var nextID = 1
    private(set) var schemaProblems: [String] = []
    private(set) var stderrText = ""

    init(framing: Framing = .headers, arguments: [String] = [], stateDirectory: String? = nil,
         environment: [String: String] = [:]) throws {
        signal(SIGPIPE, SIG_IGN)
        self.framing = framing
        self.stateDirectory = stateDirectory ?? NSTemporaryDirectory() + "clipascene-state-\(UUID().uuidString)"
        process.executableURL = URL(fileURLWithPath: try clipasceneBinary())
        process.arguments = ["serve", "--state-dir", self.stateDirectory] + arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.fileDescriptor
        Thread.detachNewThread { [self] in
            // Our own framing reader, not the server's: a framing bug in one shows against the other.
            var reader = ClientFramingReader(framing: framing)
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(out, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                for incoming in reader.feed(chunk[0..<n]) {
                    switch incoming {
                    case .success(let m):
                        condition.lock()
                        validateIncoming(m)
                        received.append(m)
                        condition.broadcast()
                        condition.unlock()
                        // A request from the server (window/workDoneProgress/create): accept it, as editors do.
                        if m["method"] != nil, let id = m["id"] { send(["jsonrpc": "2.0", "id": id, "result": .null]) }
                    case .failure(let problem):
                        condition.lock()
                        schemaProblems.append("server wrote bytes that are not a \(framing) message: \(problem)")
                        condition.unlock()
                    }
                }
            }
        }
        let err = errors.fileHandleForReading
        Thread.detachNewThread { [self] in
            let data = err.readDataToEndOfFile()
            condition.lock()
            stderrText = String(decoding: data, as: UTF8.self)
            condition.unlock()
        }
    }

    /// Called with the lock held.
    private func validateIncoming(_ m: JSON) {
        if let method = m["method"], case .string(let name) = method {
            schemaProblems += ProtocolSchemas.shared.checkParams(method: name, m["params"])
        } else if let id = m["id"] {
            if let error = m["error"] {
                schemaProblems += ProtocolSchemas.shared.checkError(error)
            } else if let result = m["result"], let method = methodsByID[id.text] {
                schemaProblems += ProtocolSchemas.shared.checkResult(method: method, result)
            }
        }
    }

    func writeRaw(_ bytes: [UInt8]) {
        input.fileHandleForWriting.write(Data(bytes))
    }

    func send(_ message: JSON) {
        let body = message.serialized
        if framing == .lines { writeRaw(body + [0x0A]) } else { writeRaw(Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body) }
    }

    /// Sends a request (checked against the schema) and returns its id.
    @discardableResult
    func call(_ method: String, _ params: JSON = [:], validate: Bool = true) -> JSON {
        condition.lock()
        let id = JSON.int(nextID)
        nextID += 1
        methodsByID[id.text] = method
        if validate { schemaProblems += ProtocolSchemas.shared.checkParams(method: method, params) }
        condition.unlock()
        send(["jsonrpc": "2.0", "id": id, "method": .string(method), "params": params])
        return id
    }

    func notify(_ method: String, _ params: JSON = [:]) {
        condition.lock()
        schemaProblems += ProtocolSchemas.shared.checkParams(method: method, params)
        condition.unlock()
        send(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }

    /// Waits for the first received message satisfying `match`.
    func waitFor(timeout: Double = 60, _ what: String, _ match: (JSON) -> Bool) throws -> JSON {
        var found: JSON = .null
        try waitUntil(timeout: timeout, what) { messages in
            guard let m = messages.first(where: match) else { return false }
            found = m
            return true
        }
        return found
    }

    /// Waits until `done` holds for everything received so far (called with the lock held:
    /// it must not call back into this object).
    func waitUntil(timeout: Double = 60, _ what: String, _ done: ([JSON]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !done(received) {
            guard condition.wait(until: deadline) else {
                throw ServerTestError("timed out after \(timeout) s waiting for \(what); stderr: \(stderrText.suffix(500))")
            }
        }
    }

    func response(to id: JSON, timeout: Double = 120) throws -> JSON {
        try waitFor(timeout: timeout, "the response to \(id.text)") { $0["id"] == id && $0["method"] == nil }
    }

    /// A request's result; fails the test on an error response.
    func request(_ method: String, _ params: JSON = [:], timeout: Double = 120) throws -> JSON {
        let r = try response(to: call(method, params), timeout: timeout)
        guard let result = r["result"] else { throw ServerTestError("\(method) failed: \(r.text)") }
        return result
    }

    /// A request's error object; fails the test when it succeeds.
    func error(_ method: String, _ params: JSON = [:], validate: Bool = false) throws -> JSON {
        let r = try response(to: call(method, params, validate: validate))
        guard let error = r["error"] else { throw ServerTestError("\(method) was expected to fail: \(r.text)") }
        return error
    }

    /// Polls getSVG until the document has finished at least `step` steps (a step request is running).
    func waitForStep(_ uri: String, atLeast step: Int = 1) throws {
        while case .int(let n)? = try request("getSVG", ["uri": .string(uri)])["step"], n < step { usleep(20_000) }
    }

    var messages: [JSON] {
        condition.lock()
        defer { condition.unlock() }
        return received
    }

    func progress(_ token: String) -> [JSON] { Self.progress(token, in: messages) }

    static func progress(_ token: String, in messages: [JSON]) -> [JSON] {
        messages.filter { $0["method"] == "$/progress" && $0["params"]?["token"] == .string(token) }.compactMap { $0["params"]?["value"] }
    }

    func initialize() throws {
        _ = try request("initialize", ["processId": .null, "capabilities": [:]])
        notify("initialized")
    }

    func closeInput() { try? input.fileHandleForWriting.close() }

    /// Waits for the process to end; nil if it is still running after `timeout`.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// shutdown + exit, expecting exit code 0.
    func stop() throws {
        XCTAssertEqual(try request("shutdown"), .null)
        notify("exit")
        closeInput()
        XCTAssertEqual(waitForExit(timeout: 10), 0)
    }

    /// Resident memory of the server process, from /proc.
    var residentBytes: Int {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb * 1024
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}

struct ServerTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
