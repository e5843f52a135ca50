import Foundation
import JSONRPC
import XCTest
import Server
import TestSupport

/// Scripts over pipes: `clipascene serve --ordered < session.jsonl > replies.jsonl`.
final class PipedScriptTests: XCTestCase {
    func run(_ lines: [JSON], arguments: [String]) throws -> (status: Int32, replies: [JSON]) {
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
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let replies = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSON.parse(String($0)) }
        return (p.terminationStatus, replies)
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
