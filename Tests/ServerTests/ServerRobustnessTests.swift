import Foundation
import JSONRPC
import XCTest
import Server
import TestSupport

final class ServerRobustnessTests: XCTestCase {
    func testMalformedInputIsAnsweredAndTheServerLivesOn() throws {
        let server = try ServerProcess(arguments: ["--max-message-bytes", "4096"])
        try server.initialize()
        // The k-th answer with a null id (the server could not tell which request it was).
        func nullIDError(_ k: Int) throws -> JSON {
            var found: JSON = .null
            try server.waitUntil("error answer \(k)") { msgs in
                let errors = msgs.filter { $0["error"] != nil && $0["id"] == .null }
                guard errors.count >= k else { return false }
                found = errors[k - 1]
                return true
            }
            return found
        }
        // Not JSON.
        let junk = Array("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".utf8)
        server.writeRaw(Array("Content-Length: \(junk.count)\r\n\r\n".utf8) + junk)
        XCTAssertEqual(try nullIDError(1)["error"]?["code"], .int(-32700))
        // Headers without a Content-Length.
        server.writeRaw(Array("Content-Type: application/json\r\n\r\n".utf8))
        XCTAssertEqual(try nullIDError(2)["error"]?["code"], .int(-32700))
        // A body larger than the limit: answered, skipped, and the next message still works.
        let big = Array(("{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"getStatus\",\"params\":{\"x\":\"" + String(repeating: "a", count: 10_000) + "\"}}").utf8)
        server.writeRaw(Array("Content-Length: \(big.count)\r\n\r\n".utf8) + big)
        let tooLarge = try nullIDError(3)
        XCTAssertEqual(tooLarge["error"]?["code"], .int(-32600))
        if case .string(let m)? = tooLarge["error"]?["message"] { XCTAssertTrue(m.contains("4096"), m) }
        XCTAssertNotNil(try server.request("getStatus")["documents"])
        // Not an object; a batch; no method; a bad id.
        server.send([1, 2])
        server.send("text")
        server.send(["jsonrpc": "2.0", "id": "raw"])
        server.send(["jsonrpc": "2.0", "id": ["x": 1], "method": "getStatus"])
        try server.waitUntil("four invalid-request answers") { msgs in
            msgs.filter { $0["error"]?["code"] == .int(-32600) }.count >= 5
        }
        // Wrong types, unknown uri, unknown method, unknown parameter.
        let wrongType = try server.error("step", ["uri": "nowhere", "count": "ten"])
        XCTAssertEqual(wrongType["code"], .int(-32602))
        let unknownURI = try server.error("step", ["uri": "nowhere", "count": 1])
        XCTAssertEqual(unknownURI["code"], .int(-32602))
        if case .string(let m)? = unknownURI["message"] { XCTAssertTrue(m.contains("loadImage"), m) }
        XCTAssertEqual(try server.error("paint", [:])["code"], .int(-32601))
        XCTAssertEqual(try server.error("getStatus", ["verbose": true])["code"], .int(-32602))
        XCTAssertEqual(try server.error("loadImage", ["uri": "x", "path": "/nonexistent/photo.jpg"])["code"], .int(-32803))
        XCTAssertEqual(try server.error("loadImage", ["uri": "x", "data": "bm90IGFuIGltYWdl"])["code"], .int(-32803))
        XCTAssertEqual(try server.error("loadImage", ["uri": "x"])["code"], .int(-32602))
        XCTAssertEqual(try server.error("loadImage", ["uri": "x", "path": .string(bullPath), "options": ["encoder": "vgg"]])["code"], .int(-32602))
        // CLIP is bring-your-own: without the file, the error says where it goes and where to get it.
        if !FileManager.default.fileExists(atPath: repoRoot.appendingPathComponent("checkpoint/clip/ViT-B-32.pt").path) {
            let clip = try server.error("loadImage", ["uri": "x", "path": .string(bullPath), "options": ["encoder": "clip-vit-b32", "mask": "none"]])
            XCTAssertEqual(clip["code"], .int(-32803))
            if case .string(let m)? = clip["message"] {
                XCTAssertTrue(m.contains("checkpoint/clip/ViT-B-32.pt") && m.contains("openaipublic.azureedge.net"), m)
            } else {
                XCTFail("no message: \(clip.text)")
            }
        }
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    func testInvalidAbstractionsNameTheirRange() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let cases: [(JSON, String)] = [
            (["fidelity": 4], "0…3"), (["simplicity": -1], "0…7"), (["strokes": 0], "1…1024"), (["numPaths": 0], "1…1024"),
            (["strokes": 8, "numPaths": 8], "not both"), (["strokeWidth": 0], "(0, 40]"), (["strokeWidth": 41], "(0, 40]"), (["iterations": 0], "1…100000"), (["learningRate": 2], "(0, 1]"),
            (["augmentations": 17], "0…16"), (["seed": -1], "0…"),
        ]
        for (params, range) in cases {
            let e = try server.error("setAbstraction", JSON(["uri": "a"]).merging(params))
            XCTAssertEqual(e["code"], .int(-32602), params.text)
            if case .string(let m)? = e["message"] { XCTAssertTrue(m.contains(range), "\(params.text): \(m)") }
        }
        try server.stop()
    }

    /// One spelling per setting: `strokes`, with `numPaths` and `paths` read as older spellings;
    /// the reply always says `strokes`, and `strokeWidth` is the SVG's stroke width.
    func testOlderSpellingsAreReadAsTheSetting() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        for alias in ["numPaths", "paths", "strokes"] {
            let r = try server.request("setAbstraction", ["uri": "a", alias: 12])
            XCTAssertEqual(r["abstraction"]?["strokes"], .int(12), alias)
            XCTAssertNil(r["abstraction"]?["numPaths"], alias)
        }
        let wide = try server.request("setAbstraction", ["uri": "a", "strokeWidth": 5, "iterations": 1])
        XCTAssertEqual(wide["abstraction"]?["strokeWidth"], .int(5))
        _ = try server.request("step", ["uri": "a", "count": 1])
        guard case .string(let svg)? = try server.request("getSVG", ["uri": "a", "part": "background"])["svg"] else {
            return XCTFail("no svg")
        }
        XCTAssertTrue(svg.contains(#"stroke-width="5""#), "the SVG's width is the setting: \(svg.prefix(600))")
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    func testBurstOfTenThousandRequestsKeepsMemoryFlat() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        func burst(from first: Int, count: Int) throws {
            var bytes: [UInt8] = []
            for i in first..<(first + count) {
                bytes += Array(#"{"jsonrpc":"2.0","id":"b\#(i)","method":"getStatus"}"#.utf8) + [0x0A]
            }
            server.writeRaw(bytes)
            let last = JSON.string("b\(first + count - 1)")
            _ = try server.waitFor(timeout: 60, "the last answer of the burst") { $0["id"] == last }
        }
        try burst(from: 0, count: 1000)
        let before = server.residentBytes
        try burst(from: 1000, count: 10_000)
        let after = server.residentBytes
        let answered = Set(server.messages.compactMap { m -> String? in
            if case .string(let s)? = m["id"], m["result"] != nil { return s } else { return nil }
        })
        XCTAssertEqual(answered.count, 11_000)
        XCTAssertLessThan(after - before, 8 << 20, "resident memory grew from \(before) to \(after) bytes")
        try server.stop()
    }

    func testClosingStdinMidStepExitsWithinASecond() throws {
        let server = try ServerProcess()
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        server.call("step", ["uri": "a", "count": 100_000, "workDoneToken": "t"])
        try server.waitUntil("a progress report") { ServerProcess.progress("t", in: $0).contains { $0["kind"] == "report" } }
        let closed = Date()
        server.closeInput()
        XCTAssertEqual(server.waitForExit(timeout: 5), 1)
        XCTAssertLessThan(Date().timeIntervalSince(closed), 1.0)
    }

    /// SIGTERM saves and exits even while the client reads nothing (issue 24, item 10: with
    /// stdout full of unread replies and progress, the server logged "saving" and hung until
    /// the pipe was drained). stdout is a pipe nobody reads here.
    func testSIGTERMExitsWhileTheClientReadsNothing() throws {
        let state = NSTemporaryDirectory() + "clipascene-full-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
        p.arguments = ["serve", "--state-dir", state]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output   // never read
        p.standardError = FileHandle.nullDevice
        try p.run()
        var script = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"# + "\n"
        script += #"{"jsonrpc":"2.0","id":2,"method":"loadImage","params":{"uri":"a","path":"\#(bullPath)","options":{"mask":"none"}}}"# + "\n"
        script += #"{"jsonrpc":"2.0","id":3,"method":"step","params":{"uri":"a","count":100000,"workDoneToken":"t"}}"# + "\n"
        for i in 0..<600 { script += #"{"jsonrpc":"2.0","id":\#(100 + i),"method":"getStatus"}"# + "\n" }
        input.fileHandleForWriting.write(Data(script.utf8))
        Thread.sleep(forTimeInterval: 4)   // the step runs; its progress and the replies fill the pipe
        let sent = Date()
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertFalse(p.isRunning, "still running 15 s after SIGTERM")
        if p.isRunning { p.terminate(); kill(p.processIdentifier, SIGKILL) } else { XCTAssertEqual(p.terminationStatus, 143) }
        XCTAssertLessThan(Date().timeIntervalSince(sent), 10)
        // The document's state was saved.
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: state).contains { $0.hasSuffix(".clpsnap") })
    }

    /// The reader never waits on the client: with stdout unread and full of answers, it goes
    /// on reading requests (a cancel behind them takes effect). It used to write each refusal
    /// itself and stop reading once the pipe was full (issue 24, item 10).
    func testTheReaderKeepsReadingWhileTheClientReadsNothing() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
        p.arguments = ["serve", "--no-snapshots"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output   // never read
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let fd = input.fileHandleForWriting.fileDescriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Each unknown method is answered with an error of about 400 bytes: 2 MB of requests
        // make several MB of answers, far past what the pipe holds.
        var script = Array((#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"# + "\n").utf8)
        for i in 0..<30_000 { script += Array((#"{"jsonrpc":"2.0","id":\#(10 + i),"method":"nope"}"# + "\n").utf8) }
        var offset = 0
        let deadline = Date().addingTimeInterval(20)
        while offset < script.count && Date() < deadline {
            let n = script.withUnsafeBytes { write(fd, $0.baseAddress! + offset, min(65536, script.count - offset)) }
            if n > 0 { offset += n } else { usleep(10_000) }
        }
        XCTAssertEqual(offset, script.count, "the server stopped reading after \(offset) of \(script.count) bytes")
        kill(p.processIdentifier, SIGTERM)
        let exitBy = Date().addingTimeInterval(15)
        while p.isRunning && Date() < exitBy { usleep(50_000) }
        XCTAssertFalse(p.isRunning, "still running 15 s after SIGTERM")
        if !p.isRunning { XCTAssertEqual(p.terminationStatus, 143) }
    }

    func testKilledServerResumesFromItsLastSnapshot() throws {
        let state = NSTemporaryDirectory() + "clipascene-kill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try ServerProcess(arguments: ["--snapshot-interval", "0.5"], stateDirectory: state)
        try first.initialize()
        _ = try first.request("loadImage", ["uri": "doc", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try first.request("setAbstraction", ["uri": "doc", "iterations": 400, "numPaths": 16])
        first.call("step", ["uri": "doc", "count": 400, "workDoneToken": "t"])
        // Killed once a snapshot taken during the step (not the load's, at step 0) is on disk:
        // the sidecar says which step it holds. Waiting for a step count instead raced the
        // half-second timer (steps of 16 strokes take about 0.06 s here).
        func sidecarStep() -> Int? {
            guard let name = (try? FileManager.default.contentsOfDirectory(atPath: state))?.first(where: { $0.hasSuffix(".json") }),
                  let data = FileManager.default.contents(atPath: state + "/" + name),
                  let info = try? JSON.parse(Array(data)), case .int(let step)? = info["step"] else { return nil }
            return step
        }
        let deadline = Date().addingTimeInterval(120)
        while (sidecarStep() ?? 0) < 8 && Date() < deadline { usleep(20_000) }
        let stepAtKill = first.latestProgressStep("t")
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.waitForExit(timeout: 5)
        let sidecars = try FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasSuffix(".json") }
        XCTAssertEqual(sidecars.count, 1)
        guard let saved = sidecarStep() else { return XCTFail("no snapshot sidecar with a step in \(state)") }
        XCTAssertGreaterThanOrEqual(saved, 8, "no snapshot during the step within two minutes")

        let second = try ServerProcess(stateDirectory: state)
        try second.initialize()
        let restored = try second.request("restoreSession", ["uri": "doc"])
        XCTAssertEqual(restored["step"], .int(saved))
        XCTAssertLessThan(saved, 400, "the step was killed before it ended (last progress: step \(stepAtKill))")
        let next = try second.request("step", ["uri": "doc", "count": 2])
        XCTAssertEqual(next["step"], .int(saved + 2))
        try second.stop()
        XCTAssertEqual(second.schemaProblems, [])
    }
}

extension ServerProcess {
    func latestProgressStep(_ token: String) -> Int {
        progress(token).compactMap { v -> Int? in if case .int(let s)? = v["step"] { return s } else { return nil } }.max() ?? 0
    }
}
