import Foundation
import JSONRPC
import XCTest
import Server
import TestSupport

/// Scripts over pipes: `clipascene serve --ordered < session.jsonl > replies.jsonl`.
final class PipedScriptTests: XCTestCase {
    func run(_ lines: [JSON], arguments: [String]) throws -> (status: Int32, replies: [JSON]) {
        let r = try runCapturingErrors(lines, arguments: arguments)
        return (r.status, r.replies)
    }

    func runCapturingErrors(_ lines: [JSON], arguments: [String]) throws -> (status: Int32, replies: [JSON], stderr: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("piped-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("session.jsonl")
        try Data(lines.map { $0.text + "\n" }.joined().utf8).write(to: script)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
        p.arguments = ["serve", "--state-dir", dir.appendingPathComponent("state").path] + arguments
        p.standardInput = try FileHandle(forReadingFrom: script)
        let out = Pipe()
        p.standardOutput = out
        let errors = dir.appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: errors)
        p.standardError = errorHandle
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try errorHandle.close()
        let replies = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSON.parse(String($0)) }
        return (p.terminationStatus, replies, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    static let shutdown: JSON = ["jsonrpc": "2.0", "id": 11, "method": "shutdown"]
    static let exit: JSON = ["jsonrpc": "2.0", "method": "exit"]

    /// The replies by id; each id answered once.
    func byID(_ replies: [JSON]) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for r in replies { if let id = r["id"] { XCTAssertNil(out[id.text], "id \(id.text) answered twice"); out[id.text] = r } }
        return out
    }

    /// LSP's ending, `shutdown` then `exit`, piped into --ordered: every request is answered
    /// (shutdown after everything queued before it), then the process exits 0. It used to exit
    /// at `exit` with only initialize's reply written (issue 24, item 1).
    func testOrderedScriptEndingInShutdownAndExitGetsEveryReply() throws {
        let (status, replies, stderr) = try runCapturingErrors(Self.session + [Self.shutdown, Self.exit], arguments: ["--ordered"])
        XCTAssertEqual(status, 0, stderr)
        let answers = byID(replies)
        XCTAssertEqual(Set(answers.keys), Set((1...11).map(String.init)), "every request answered: \(replies.map(\.text))")
        for k in 2...10 { XCTAssertNil(answers["\(k)"]?["error"], "request \(k): \(answers["\(k)"]?.text ?? "")") }
        XCTAssertEqual(answers["11"]?["result"], .null, "shutdown answers null")
        XCTAssertEqual(replies.last?["id"], 11, "shutdown is answered last")
    }

    /// Without --ordered, a script ending in `shutdown` (and `exit`, or not) gets a reply to
    /// every request read before it: a result, or -32802 with the reason (shutting down);
    /// shutdown's own reply too; and the process exits 0. It used to exit 0 with only
    /// initialize's reply (issue 24, item 2).
    func testScriptEndingInShutdownGetsEveryReplyWithoutOrdered() throws {
        for ending in [[Self.shutdown], [Self.shutdown, Self.exit]] {
            let (status, replies, stderr) = try runCapturingErrors(Self.session + ending, arguments: [])
            XCTAssertEqual(status, 0, stderr)
            let answers = byID(replies)
            XCTAssertEqual(Set(answers.keys), Set((1...11).map(String.init)), "every request answered: \(replies.map(\.text))")
            XCTAssertEqual(answers["11"]?["result"], .null, "shutdown answers null")
            for k in 2...10 {
                guard let error = answers["\(k)"]?["error"] else { continue }
                XCTAssertEqual(error["code"], .int(-32802), "request \(k): \(error.text)")
                // The reason: the server shutting down, or (steps) a later setAbstraction.
                let message = error["message"]?.text ?? ""
                XCTAssertTrue(message.contains("shutting down") || message.contains("superseded"), "request \(k): \(error.text)")
            }
        }
    }

    /// A script that ends without shutdown, not --ordered: the server exits 1 (never 0 having
    /// dropped a request) and says on stderr how to get every answer; `exit` without shutdown
    /// exits 1 too, as LSP says.
    func testScriptEndingEarlyExitsOneAndHintsAtOrdered() throws {
        let early = try runCapturingErrors(Array(Self.session.prefix(6)), arguments: [])
        XCTAssertEqual(early.status, 1)
        XCTAssertTrue(early.stderr.contains("--ordered"), early.stderr)
        let exitOnly = try runCapturingErrors([Self.session[0], Self.exit], arguments: [])
        XCTAssertEqual(exitOnly.status, 1)
        XCTAssertEqual(exitOnly.replies.count, 1, "initialize's reply: \(exitOnly.replies.map(\.text))")
    }

    static let session: [JSON] = [
        ["jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["capabilities": [:]]],
        ["jsonrpc": "2.0", "method": "initialized", "params": [:]],
        ["jsonrpc": "2.0", "id": 2, "method": "loadImage", "params": ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]]],
        ["jsonrpc": "2.0", "id": 3, "method": "getSVG", "params": ["uri": "a"]],
        ["jsonrpc": "2.0", "id": 4, "method": "setAbstraction", "params": ["uri": "a", "iterations": 3, "numPaths": 8]],
        ["jsonrpc": "2.0", "id": 5, "method": "step", "params": ["uri": "a", "count": 2]],
        ["jsonrpc": "2.0", "id": 6, "method": "getSVG", "params": ["uri": "a"]],
        ["jsonrpc": "2.0", "id": 7, "method": "step", "params": ["uri": "a", "count": 10]],
        ["jsonrpc": "2.0", "id": 8, "method": "getStatus"],
        ["jsonrpc": "2.0", "id": 9, "method": "setAbstraction", "params": ["uri": "a", "iterations": 5]],
        ["jsonrpc": "2.0", "id": 10, "method": "step", "params": ["uri": "a", "count": 10]],
    ]

    func testOrderedScriptIsAnsweredInOrderAndExitsZero() throws {
        let (status, replies) = try run(Self.session, arguments: ["--ordered"])
        XCTAssertEqual(status, 0)
        let byID = Dictionary(replies.compactMap { r in r["id"].map { ($0.text, r) } }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(Set(byID.keys), Set((1...10).map(String.init)), "every request answered")
        for k in 2...10 { XCTAssertNil(byID["\(k)"]?["error"], "request \(k): \(byID["\(k)"]?.text ?? "")") }
        XCTAssertEqual(byID["3"]?["result"]?["step"], .int(0), "getSVG right after loadImage waits for it")
        XCTAssertEqual(byID["6"]?["result"]?["step"], .int(2), "getSVG after a step sees that step")
        XCTAssertEqual(byID["7"]?["result"]?["complete"], .bool(true))
        guard case .array(let docs)? = byID["8"]?["result"]?["documents"] else { return XCTFail("no documents") }
        XCTAssertEqual(docs.first?["step"], .int(3), "getStatus after the steps sees them")
        // Which part a loss belongs to is said (mask none: the background only).
        XCTAssertEqual(byID["5"]?["result"]?["lossPart"], "background")
        // More iterations continue the run instead of starting again.
        XCTAssertEqual(byID["9"]?["result"]?["change"], "continued")
        XCTAssertEqual(byID["9"]?["result"]?["step"], .int(3))
        XCTAssertEqual(byID["10"]?["result"]?["stepsRun"], .int(2))
        XCTAssertEqual(byID["10"]?["result"]?["complete"], .bool(true))
        // Answers come in the order sent.
        let order = replies.compactMap { r -> Int? in if case .int(let i)? = r["id"] { return i } else { return nil } }
        XCTAssertEqual(order, order.sorted())
    }

    /// Without --ordered (editors), a getSVG still waits for a loadImage queued before it
    /// instead of failing.
    func testInteractiveGetSVGWaitsForAQueuedLoad() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        let load = server.call("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let svg = server.call("getSVG", ["uri": "a"])
        XCTAssertNotNil(try server.response(to: load)["result"])
        let reply = try server.response(to: svg)
        XCTAssertEqual(reply["result"]?["step"], .int(0), reply.text)
        try server.stop()
    }

    /// A getSVG sent while the photo loads is answered when the load ends, with the first
    /// strokes, not after the step queued behind the load (issue 23): the replies' order says so.
    func testGetSVGDuringALoadDoesNotWaitForTheStepQueuedBehindIt() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        let load = server.call("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let step = server.call("step", ["uri": "a", "count": 40])
        let svg = server.call("getSVG", ["uri": "a"])
        let status = server.call("getStatus")
        let svgReply = try server.response(to: svg)
        XCTAssertEqual(svgReply["result"]?["step"], .int(0), svgReply.text)
        guard case .string(let xml)? = svgReply["result"]?["svg"] else { return XCTFail("no svg: \(svgReply.text)") }
        XCTAssertTrue(xml.contains("<path"), "the first drawing has strokes")
        XCTAssertNotNil(try server.response(to: load)["result"])
        XCTAssertEqual(try server.response(to: step)["result"]?["stepsRun"], .int(40))
        _ = try server.response(to: status)
        let order = server.messages.compactMap { $0["id"] }
        // The step-0 drawing (not an unknown-document error) shows the read waited for the load;
        // it may be answered just before the load's own reply, once the document is published.
        guard let svgAt = order.firstIndex(of: svg), let stepAt = order.firstIndex(of: step)
        else { return XCTFail("replies missing") }
        XCTAssertLessThan(svgAt, stepAt, "the read does not wait for the step queued after the load")
        try server.stop()
    }

    /// A getSVG for a load that fails is answered with the unknown-document error, not left waiting.
    func testGetSVGDuringAFailingLoadIsAnswered() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        let load = server.call("loadImage", ["uri": "b", "path": "/nonexistent/photo.png"])
        let svg = server.call("getSVG", ["uri": "b"])
        XCTAssertNotNil(try server.response(to: load)["error"])
        let reply = try server.response(to: svg, timeout: 30)
        XCTAssertNotNil(reply["error"], reply.text)
        try server.stop()
    }
}
