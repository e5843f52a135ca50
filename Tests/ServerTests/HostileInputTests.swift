import Foundation
import JSONRPC
import XCTest
import Server
import Imaging
import TestSupport

/// Inputs that once took the whole server down or left it in a wrong state: each test sends
/// the input, then checks the server still answers and the state is right.
final class HostileInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("clipascene-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// IHDR claiming 4294967295 × 4294967295: every door that takes an image refuses it.
    func testImageHeaderOverflowThroughEveryDoor() throws {
        let ihdr: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8, 2, 0, 0, 0]
        let body = Array("IHDR".utf8) + ihdr
        var crc: UInt32 = 0xFFFF_FFFF
        for b in body {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        crc ^= 0xFFFF_FFFF
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + body
                       + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
                       + [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])  // IEND
        XCTAssertEqual(png.count, 45)
        let path = dir.appendingPathComponent("huge.png").path
        try png.write(to: URL(fileURLWithPath: path))

        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        for params: JSON in [
            ["uri": "a", "path": .string(path)],
            ["uri": "b", "data": .string(png.base64EncodedString())],
            ["uri": "c", "path": .string(bullPath), "options": ["mask": .string(path)]],
            ["uri": "d", "path": .string(bullPath), "options": ["mask": "none", "background": .string(path)]],
        ] {
            let e = try server.error("loadImage", params)
            XCTAssertEqual(e["code"], .int(-32803), params.text)
        }
        // No phantom documents from the failed loads.
        XCTAssertEqual(try server.request("getStatus")["documents"], .array([]))
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// A line that is not JSON and not a header is one parse error; the next message reads normally.
    func testStrayLinesAreAnsweredAndDropped() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        let junk: [[UInt8]] = [Array("42\n".utf8), Array("\"hi\"\n".utf8), Array("true\n".utf8), Array("hello\n".utf8),
                               [0, 0, 0, 0x0A], [0xFF, 0xFE, 0x80, 0x01, 0x0A]]
        for (k, bytes) in junk.enumerated() {
            server.writeRaw(bytes)
            let status = try server.response(to: server.call("getStatus"), timeout: 10)
            XCTAssertNotNil(status["result"], "after junk \(k)")
            let parseErrors = server.messages.filter { $0["error"]?["code"] == .int(-32700) }.count
            XCTAssertEqual(parseErrors, k + 1, "junk \(k) was not answered as one parse error")
        }
        // 150 requests after a stray line are all answered (once, 152 were swallowed).
        server.writeRaw(Array("42\n".utf8))
        let ids = (0..<150).map { _ in server.call("getStatus") }
        for id in ids { XCTAssertNotNil(try server.response(to: id, timeout: 20)["result"]) }
        try server.stop()
    }

    /// A false Content-Length is refused at once, and the next header-framed message still works.
    func testHugeContentLengthIsRefusedAndTheReaderResynchronises() throws {
        let server = try ServerProcess(framing: .headers)
        try server.initialize()
        server.writeRaw(Array("Content-Length: 9223372036854775807\r\n\r\n".utf8))
        let refused = try server.waitFor(timeout: 10, "the refusal") { $0["error"]?["code"] == .int(-32600) && $0["id"] == .null }
        if case .string(let m)? = refused["error"]?["message"] { XCTAssertTrue(m.contains("9223372036854775807"), m) }
        XCTAssertNotNil(try server.response(to: server.call("getStatus"), timeout: 10)["result"])
        // A lying length followed by a short body and then a real message.
        server.writeRaw(Array("Content-Length: 99999999999\r\n\r\n{}".utf8))
        XCTAssertNotNil(try server.response(to: server.call("getStatus"), timeout: 10)["result"])
        try server.stop()
    }

    /// On the real binary: a `shutdown` inside a refused (oversized) body does not run, and a
    /// header-shaped stray line does not swallow the line-framed requests after it (issue 24,
    /// items 8 and 9).
    func testNothingInsideARefusedBodyOrAfterAStrayHeaderIsLost() throws {
        let server = try ServerProcess(framing: .headers, arguments: ["--max-message-bytes", "1024"])
        try server.initialize()
        let smuggled = #"{"jsonrpc":"2.0","id":"smuggled","method":"shutdown"}"#
        let body = #"{"jsonrpc":"2.0","id":"big","method":"getStatus","params":{"pad":""# + String(repeating: "x", count: 1200)
            + "\r\n\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n" + smuggled + "}"
        server.writeRaw(Array(("Content-Length: \(body.utf8.count)\r\n\r\n" + body).utf8))
        _ = try server.waitFor(timeout: 10, "the refusal") { $0["error"]?["code"] == .int(-32600) }
        XCTAssertNotNil(try server.response(to: server.call("getStatus"), timeout: 10)["result"], "the server is not shutting down")
        XCTAssertFalse(server.messages.contains { $0["id"] == "smuggled" }, "the smuggled request was never read")
        try server.stop()

        let lines = try ServerProcess(framing: .lines)
        try lines.initialize()
        lines.writeRaw(Array("Note: hello\n".utf8))
        let ids = (0..<20).map { _ in lines.call("getStatus") }
        for id in ids { XCTAssertNotNil(try lines.response(to: id, timeout: 10)["result"]) }
        try lines.stop()
    }

    /// The number of open documents is bounded (`--max-documents`): one more loadImage is
    /// refused naming the limit, getStatus and initialize say it, and closing one makes room
    /// (issue 24, item 13: 51 documents reached 1.42 GB).
    func testOpenDocumentsAreBounded() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--max-documents", "2", "--no-snapshots"])
        let initialized = try server.request("initialize", ["processId": .null, "capabilities": [:]])
        server.notify("initialized")
        XCTAssertEqual(initialized["capabilities"]?["experimental"]?["clipascene"]?["limits"]?["maxDocuments"], .int(2))
        for uri in ["a", "b"] {
            _ = try server.request("loadImage", ["uri": .string(uri), "path": .string(bullPath), "options": ["mask": "none"]])
        }
        let refused = try server.error("loadImage", ["uri": "c", "path": .string(bullPath), "options": ["mask": "none"]])
        XCTAssertEqual(refused["code"], .int(-32803))
        XCTAssertTrue(refused["message"]?.text.contains("--max-documents 2") ?? false, refused.text)
        let status = try server.request("getStatus")
        XCTAssertEqual(status["maxDocuments"], .int(2))
        guard case .array(let docs)? = status["documents"] else { return XCTFail(status.text) }
        XCTAssertEqual(docs.count, 2)
        // Reloading an open document is not a new one.
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("closeDocument", ["uri": "a"])
        _ = try server.request("loadImage", ["uri": "c", "path": .string(bullPath), "options": ["mask": "none"]])
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// Partial snapshot files do not pile up (issue 24, item 14): the end of input right after
    /// a loadImage reply waits for the snapshot being written, and a server starting removes
    /// the temporaries of writers that are gone (a kill -9 mid-save), whatever the retention
    /// rule, while a live process's stay.
    func testPartialSnapshotsArePrunedAndNeverLeftAtExit() throws {
        let state = dir.appendingPathComponent("state-partial").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        func temporaries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []).filter { $0.contains(".tmp-") } }
        for _ in 0..<4 {
            let server = try ServerProcess(framing: .lines, stateDirectory: state)
            try server.initialize()
            _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
            server.closeInput()
            XCTAssertNotNil(server.waitForExit(timeout: 30))
            XCTAssertEqual(temporaries(), [], "left by an exit right after loadImage")
        }
        // A writer that is gone (a process that has exited) and one that is alive (this one), in
        // a folder of their own (a ServerProcess removes its state folder when it is freed).
        let pruned = dir.appendingPathComponent("state-prune").path
        try FileManager.default.createDirectory(atPath: pruned, withIntermediateDirectories: true)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = ".0123456789abcdef.clpsnap.tmp-\(gone.processIdentifier)-42", live = ".fedcba9876543210.clpsnap.tmp-\(getpid())-7"
        for name in [dead, live] { _ = FileManager.default.createFile(atPath: pruned + "/" + name, contents: Data(count: 1 << 20)) }
        let server = try ServerProcess(framing: .lines, arguments: ["--snapshot-max-age-days", "1000"], stateDirectory: pruned)
        try server.initialize()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: pruned).filter { $0.contains(".tmp-") }, [live])
        try server.stop()
    }

    /// Uris are opaque: compared byte for byte, so `café` in NFC and in NFD are two documents
    /// (Swift's String equality made them one: getSVG and closeDocument on one acted on the
    /// other; issue 24, item 11).
    func testURIsAreComparedByteForByte() throws {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        XCTAssertEqual(nfc, nfd, "Swift calls them equal")
        XCTAssertNotEqual(Array(nfc.utf8), Array(nfd.utf8))
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        _ = try server.request("loadImage", ["uri": .string(nfc), "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("setAbstraction", ["uri": .string(nfc), "strokes": 3])
        _ = try server.request("loadImage", ["uri": .string(nfd), "path": .string(bullPath), "options": ["mask": "none"]])
        guard case .array(let docs)? = try server.request("getStatus")["documents"] else { return XCTFail("no documents") }
        XCTAssertEqual(docs.count, 2, "two documents: \(docs.map(\.text))")
        _ = try server.request("closeDocument", ["uri": .string(nfd)])
        let svg = try server.request("getSVG", ["uri": .string(nfc)])
        XCTAssertNotNil(svg["svg"], "the NFC document is still open after closing the NFD one")
        let gone = try server.error("getSVG", ["uri": .string(nfd)])
        XCTAssertEqual(gone["code"], .int(-32602), gone.text)
        try server.stop()
    }

    /// Ids come back exactly as written, and requests are keyed by that text: `1` and `1.0`
    /// are two requests, so cancelling `1.0` leaves `1` running (issue 24, item 16: `-0` came
    /// back as `0`, `1E+2` as `100`, `1.0` as `1`, `1e-400` as `0`; `01` was accepted).
    func testIdsComeBackAsWrittenAndAreKeyedByTheirText() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        let ids = ["1.0", "-0", "1E+2", "1e-400", "2.50"]
        for id in ids { server.writeRaw(Array("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"getStatus\"}\n".utf8)) }
        for id in ids {
            let reply = try server.waitFor(timeout: 10, "the reply to \(id)") { $0["id"]?.text == id }
            XCTAssertNotNil(reply["result"], reply.text)
        }
        server.writeRaw(Array("{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"getStatus\"}\n".utf8))
        let refused = try server.waitFor(timeout: 10, "the parse error") { $0["error"]?["code"] == .int(-32700) }
        XCTAssertEqual(refused["id"], .null)
        XCTAssertTrue(refused["error"]?["message"]?.text.contains("start with 0") ?? false, refused.text)

        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("loadImage", ["uri": "b", "path": .string(bullPath), "options": ["mask": "none"]])
        server.writeRaw(Array(#"{"jsonrpc":"2.0","id":900001,"method":"step","params":{"uri":"a","count":10000}}"#.utf8) + [0x0A])
        server.writeRaw(Array(#"{"jsonrpc":"2.0","id":900001.0,"method":"step","params":{"uri":"b","count":10000}}"#.utf8) + [0x0A])
        try server.waitForStep("a")
        try server.waitForStep("b")
        server.writeRaw(Array(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":900001.0}}"#.utf8) + [0x0A])
        let cancelled = try server.waitFor(timeout: 30, "the reply to 900001.0") { $0["id"]?.text == "900001.0" }
        XCTAssertEqual(cancelled["error"]?["code"], .int(-32800), cancelled.text)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertFalse(server.messages.contains { $0["id"]?.text == "900001" }, "cancelling 900001.0 stopped 900001 too")
        server.writeRaw(Array(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":900001}}"#.utf8) + [0x0A])
        let second = try server.waitFor(timeout: 30, "the reply to 900001") { $0["id"]?.text == "900001" }
        XCTAssertEqual(second["error"]?["code"], .int(-32800), second.text)
        try server.stop()
    }

    /// A uri that is not Unicode text is refused (-32602, naming the field), not read with
    /// U+FFFD in place: two different invalid uris used to reach one document (issue 24, item 11).
    func testURIsThatAreNotUnicodeAreRefused() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        let load = #"{"jsonrpc":"2.0","id":"L","method":"loadImage","params":{"uri":"doc-URI","path":"\#(bullPath)","options":{"mask":"none"}}}"#
        func send(_ uri: [UInt8], id: String) {
            let text = Array(load.replacingOccurrences(of: "\"L\"", with: "\"\(id)\"").utf8)
            guard let at = text.firstRange(of: Array("doc-URI".utf8)) else { return XCTFail("no placeholder") }
            server.writeRaw(Array(text[..<at.lowerBound]) + uri + Array(text[at.upperBound...]) + [0x0A])
        }
        let bad: [(String, [UInt8])] = [("ff", [0x61, 0xFF]), ("fe", [0x61, 0xFE]), ("lone", Array(#"a\ud800"#.utf8)),
                                        ("low", Array(#"a\udc00"#.utf8)), ("overlong", [0x61, 0xC0, 0xAF])]
        for (id, uri) in bad {
            send(uri, id: id)
            let reply = try server.waitFor(timeout: 30, "the reply to \(id)") { $0["id"] == .string(id) }
            XCTAssertEqual(reply["error"]?["code"], .int(-32602), reply.text)
            XCTAssertTrue(reply["error"]?["message"]?.text.contains("params.uri is not valid Unicode") ?? false, reply.text)
        }
        guard case .array(let docs)? = try server.request("getStatus")["documents"] else { return XCTFail("no documents") }
        XCTAssertEqual(docs.count, 0, "no document was opened: \(docs.map(\.text))")
        // A real U+FFFD and an astral character are fine.
        send(Array("a\u{FFFD}😀".utf8), id: "ok")
        let ok = try server.waitFor(timeout: 60, "the reply to ok") { $0["id"] == "ok" }
        XCTAssertNotNil(ok["result"], ok.text)
        try server.stop()
    }

    /// `data` is strict base64: a character outside the alphabet is refused by name (it used to
    /// be skipped, handing the decoder other bytes than sent); line breaks and missing padding
    /// are fine (issue 24, item 16).
    func testImageDataMustBeBase64() throws {
        let bull = try Data(contentsOf: URL(fileURLWithPath: bullPath)).base64EncodedString()
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        let middle = bull.index(bull.startIndex, offsetBy: 100)
        for junk in ["!", "*", "é", "-", "_", "\u{0}"] {
            let e = try server.error("loadImage", ["uri": "a", "data": .string(bull[..<middle] + junk + bull[middle...]), "options": ["mask": "none"]])
            XCTAssertEqual(e["code"], .int(-32602), junk)
            XCTAssertTrue(e["message"]?.text.contains("at character 100") ?? false, e.text)
        }
        // Wrapped at 76 characters with CRLF, as MIME writes it, and without its padding.
        var wrapped = "", rest = Substring(bull)
        while !rest.isEmpty { wrapped += rest.prefix(76) + "\r\n"; rest = rest.dropFirst(76) }
        _ = try server.request("loadImage", ["uri": "a", "data": .string(wrapped), "options": ["mask": "none"]])
        _ = try server.request("loadImage", ["uri": "b", "data": .string(String(bull.reversed().drop { $0 == "=" }.reversed())), "options": ["mask": "none"]])
        try server.stop()
    }

    /// A mask image of another shape than the photo is refused (-32602, both sizes named)
    /// instead of being stretched over it; one of the same shape at another size is fine
    /// (issue 24, item 16).
    func testAMaskOfAnotherShapeIsRefused() throws {
        let photo = try ImageFile.decode(path: bullPath)
        let square = dir.appendingPathComponent("other-shape-mask.png").path
        try ImageFile.writePNG(GrayImage(width: 64, height: 64 * photo.height / photo.width / 2, value: 1), to: square)
        let half = dir.appendingPathComponent("half-mask.png").path
        try ImageFile.writePNG(GrayImage(width: photo.width / 2, height: photo.height / 2, value: 1), to: half)
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        let e = try server.error("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": .string(square)]])
        XCTAssertEqual(e["code"], .int(-32602), e.text)
        XCTAssertTrue(e["message"]?.text.contains("64 × \(64 * photo.height / photo.width / 2)") ?? false, e.text)
        let loaded = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": .string(half)]])
        XCTAssertEqual(loaded["subjectFound"], .bool(true), loaded.text)
        try server.stop()
    }

    /// A request queued behind closeDocument says the document was closed, and never lists
    /// the same uri as open (issue 24, item 16: "unknown uri x … open documents: x").
    func testARequestAfterCloseSaysTheDocumentWasClosed() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "x", "path": .string(bullPath), "options": ["mask": "none"]])
        let close = server.call("closeDocument", ["uri": "x"])
        let step = server.call("step", ["uri": "x", "count": 1])
        XCTAssertNotNil(try server.response(to: close)["result"])
        let e = try server.response(to: step)["error"]
        XCTAssertEqual(e?["code"], .int(-32602))
        let message = e?["message"]?.text ?? ""
        XCTAssertFalse(message.contains("open documents: x"), message)
        XCTAssertTrue(message.contains("closed") || message.contains("unknown uri"), message)
        try server.stop()
    }

    /// Two servers on one --state-dir keep each other's snapshots (issue 24, item 12): a new
    /// server's retention and the other's closeDocument leave alone a snapshot that a running
    /// server wrote last (its pid is in the sidecar); once that server is gone, its snapshot
    /// restores, and the rule applies to it again.
    func testServersSharingAStateFolderKeepEachOthersSnapshots() throws {
        let state = dir.appendingPathComponent("shared-state").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        func snapshots() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []).filter { $0.hasSuffix(".clpsnap") }.sorted() }
        func waitForSnapshots(_ n: Int) { let end = Date().addingTimeInterval(20); while snapshots().count < n && Date() < end { usleep(50_000) } }
        let first = try ServerProcess(framing: .lines, stateDirectory: state)
        try first.initialize()
        _ = try first.request("loadImage", ["uri": "mine", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try first.request("loadImage", ["uri": "shared", "path": .string(bullPath), "options": ["mask": "none"]])
        waitForSnapshots(2)
        // A second server whose retention rule would remove everything.
        let second = try ServerProcess(framing: .lines, arguments: ["--snapshot-max-age-days", "0", "--snapshot-max-megabytes", "0"],
                                       stateDirectory: state)
        try second.initialize()
        XCTAssertEqual(snapshots().count, 2, "the running server's snapshots survive the other's retention")
        // The second server opens "shared" too (its snapshot now), and the first closes it.
        _ = try second.request("loadImage", ["uri": "shared", "path": .string(bullPath), "options": ["mask": "none"]])
        func sharedWrittenBySecond() -> Bool {
            ((try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []).filter { $0.hasSuffix(".json") }.contains { name in
                guard let data = FileManager.default.contents(atPath: state + "/" + name), let info = try? JSON.parse(Array(data)) else { return false }
                return info["uri"] == "shared" && info["pid"] == .int(Int(second.process.processIdentifier))
            }
        }
        let end = Date().addingTimeInterval(20)
        while !sharedWrittenBySecond() && Date() < end { usleep(50_000) }
        XCTAssertTrue(sharedWrittenBySecond(), "the second server's snapshot of the shared uri")
        _ = try first.request("closeDocument", ["uri": "shared"])
        XCTAssertEqual(snapshots().count, 2, "closing it on one server leaves the other's live snapshot")
        // The first server is killed: its snapshot of "mine" restores on the second.
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.waitForExit(timeout: 5)
        let restored = try second.request("restoreSession", ["uri": "mine"])
        XCTAssertEqual(restored["step"], .int(0))
        try second.stop()
    }

    /// Ids must come back exactly as sent, however large.
    func testLargeNumericIdsRoundTripExactly() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        let id = "123456789012345678901234567890"
        server.writeRaw(Array("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"getStatus\"}\n".utf8))
        let reply = try server.waitFor(timeout: 10, "the reply") { $0["id"] == .numberText(id) }
        XCTAssertNotNil(reply["result"])
        XCTAssertTrue(reply.text.contains("\"id\":\(id)"), reply.text)
        try server.stop()
    }

    /// closeDocument then loadImage at once: the document is open with the new image, and the
    /// old snapshot is gone (forgetSnapshot) while the new one is the document's.
    func testCloseThenReloadReopens() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let close = server.call("closeDocument", ["uri": "a", "forgetSnapshot": true])
        let load = server.call("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        XCTAssertEqual(try server.response(to: close)["result"], .null)
        XCTAssertNotNil(try server.response(to: load)["result"])
        XCTAssertNotNil(try server.request("getSVG", ["uri": "a"])["svg"])
        XCTAssertEqual(try server.request("step", ["uri": "a", "count": 1])["step"], .int(1))
        let docs = try server.request("getStatus")["documents"]
        guard case .array(let list)? = docs else { return XCTFail("no documents") }
        XCTAssertEqual(list.count, 1)
        try server.stop()
    }

    /// Failed loads and restores leave nothing behind, and later requests say "unknown uri".
    func testFailedLoadsLeaveNoPhantomDocuments() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        var ids: [JSON] = []
        for k in 0..<200 {
            ids.append(server.call("loadImage", ["uri": .string("bad\(k)"), "path": "/nonexistent.png"]))
            ids.append(server.call("restoreSession", ["uri": .string("gone\(k)"), "path": "/nonexistent.clpsnap"]))
        }
        for id in ids { XCTAssertEqual(try server.response(to: id)["error"]?["code"], .int(-32803)) }
        XCTAssertEqual(try server.request("getStatus")["documents"], .array([]))
        XCTAssertEqual(try server.error("step", ["uri": "bad3", "count": 1])["code"], .int(-32602))
        XCTAssertEqual(try server.error("getSVG", ["uri": "gone3"])["code"], .int(-32602))
        // A step queued right behind a failing load is told the uri is unknown, not "failed".
        let load = server.call("loadImage", ["uri": "q", "path": "/nonexistent.png"])
        let step = server.call("step", ["uri": "q", "count": 1])
        XCTAssertEqual(try server.response(to: load)["error"]?["code"], .int(-32803))
        XCTAssertEqual(try server.response(to: step)["error"]?["code"], .int(-32602))
        try server.stop()
    }

    /// saveSession refuses paths that cannot name a file before writing anything, leaves no
    /// temporary files, creates no folders, and never replaces a link to a folder.
    func testSaveSessionPathsAreCheckedFirst() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let work = dir.appendingPathComponent("work").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let target = dir.appendingPathComponent("target").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: work + "/link", withDestinationPath: target)
        for path in [".", "./", work + "/x/.", work + "/a/..", work + "/", work + "/nul\u{0}byte.clpsnap", work + "/link", ""] {
            let e = try server.error("saveSession", ["uri": "a", "path": .string(path)])
            XCTAssertEqual(e["code"], .int(-32602), "\(path.debugDescription): \(e.text)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work).sorted(), ["link"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target), [])
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/link", isDirectory: &isDirectory) && isDirectory.boolValue)
        // A parent that is a file: a clear failure and nothing left behind.
        _ = FileManager.default.createFile(atPath: work + "/file", contents: Data("x".utf8))
        let e = try server.error("saveSession", ["uri": "a", "path": .string(work + "/file/s.clpsnap")])
        XCTAssertEqual(e["code"], .int(-32803))
        // A good path still works.
        let saved = try server.request("saveSession", ["uri": "a", "path": .string(work + "/sub/s.clpsnap")])
        XCTAssertEqual(saved["path"], .string(work + "/sub/s.clpsnap"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work + "/sub"), ["s.clpsnap"])
        try server.stop()
    }

    /// saveSession and runMatrix's outDir never replace what is not a regular file: a FIFO, a
    /// socket or a device node (made in a scratch folder) is refused with -32602 naming it,
    /// and is still there afterwards (issue 24, item 7).
    func testSpecialFilesAreRefusedAsOutputs() throws {
        let scratch = dir.appendingPathComponent("special").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let special = makeSpecialFiles(in: scratch)
        XCTAssertGreaterThanOrEqual(special.count, 2, "a FIFO and a socket at least")
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("setAbstraction", ["uri": "a", "iterations": 1, "strokes": 4])
        for (path, kind) in special {
            let before = fileKind(path)
            let e = try server.error("saveSession", ["uri": "a", "path": .string(path)])
            XCTAssertEqual(e["code"], .int(-32602), "\(kind): \(e.text)")
            XCTAssertTrue(e["message"]?.text.contains(kind) ?? false, "\(kind): \(e.text)")
            XCTAssertEqual(fileKind(path), before, "the \(kind) is still there")
            let m = try server.error("runMatrix", ["uri": "a", "fidelities": [0], "simplicities": [0], "outDir": .string(path)])
            XCTAssertEqual(m["code"], .int(-32602), "outDir \(kind): \(m.text)")
            XCTAssertEqual(fileKind(path), before, "the \(kind) is still there")
        }
        try server.stop()
    }

    /// Automatic snapshots that cannot be written are reported to the client, not only on stderr.
    func testSnapshotFailuresReachTheClient() throws {
        let blocker = dir.appendingPathComponent("state-is-a-file").path
        _ = FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8))
        let server = try ServerProcess(framing: .lines, stateDirectory: blocker)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let shown = try server.waitFor(timeout: 30, "window/showMessage") { $0["method"] == "window/showMessage" }
        XCTAssertEqual(shown["params"]?["type"], .int(1))
        if case .string(let m)? = shown["params"]?["message"] { XCTAssertTrue(m.contains("snapshot"), m) }
        let status = try server.request("getStatus")
        XCTAssertEqual(status["snapshots"]?["healthy"], .bool(false))
        XCTAssertNotNil(status["snapshots"]?["error"])
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// A full disk says so ("no space left"), to the request that wrote and in the
    /// automatic-snapshot notice, and leaves no temporary file behind.
    func testFullDiskIsNamed() throws {
        let disk = dir.appendingPathComponent("tiny").path
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", disk]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("mounting a 64 KB tmpfs needs root in a namespace that allows it") }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [disk]
            try? umount.run()
            umount.waitUntilExit()
        }
        let server = try ServerProcess(framing: .lines, stateDirectory: disk + "/state")
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let shown = try server.waitFor(timeout: 30, "window/showMessage") { $0["method"] == "window/showMessage" }
        if case .string(let m)? = shown["params"]?["message"] { XCTAssertTrue(m.contains("no space left"), m) }
        let e = try server.error("saveSession", ["uri": "a", "path": .string(disk + "/s.clpsnap")])
        XCTAssertEqual(e["code"], .int(-32803))
        if case .string(let m)? = e["message"] { XCTAssertTrue(m.contains("no space left"), m) }
        try server.stop()
        let left = try FileManager.default.subpathsOfDirectory(atPath: disk).filter { $0.contains("tmp") }
        XCTAssertEqual(left, [], "temporary files left on the full disk")
    }

    /// getPreview and getSVG are rendered off the reading thread: a cancel sent behind many
    /// large previews stops the step before those previews are all answered.
    func testCancelIsNotStuckBehindQueuedPreviews() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let step = server.call("step", ["uri": "a", "count": 10_000])
        try server.waitForStep("a")
        let previews = (0..<30).map { _ in server.call("getPreview", ["uri": "a", "scale": 8]) }
        server.notify("$/cancelRequest", ["id": step])
        let stepReply = try server.response(to: step)
        XCTAssertEqual(stepReply["error"]?["code"], .int(-32800))
        // The step's answer came before the last preview's.
        let messages = server.messages
        let stepIndex = messages.firstIndex { $0["id"] == step && $0["method"] == nil }
        let lastPreviewIndex = messages.firstIndex { $0["id"] == previews.last && $0["method"] == nil }
        XCTAssertNotNil(stepIndex)
        if let stepIndex, let lastPreviewIndex { XCTAssertLessThan(stepIndex, lastPreviewIndex) }
        for id in previews { XCTAssertNotNil(try server.response(to: id)["result"]) }
        try server.stop()
    }

    /// SIGTERM saves each document's latest state before the process ends.
    func testSIGTERMSavesSnapshots() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--snapshot-interval", "1000"])
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("step", ["uri": "a", "count": 1])
        _ = try server.request("step", ["uri": "a", "count": 1])  // within a second: its snapshot is owed
        kill(server.process.processIdentifier, SIGTERM)
        XCTAssertEqual(server.waitForExit(timeout: 30), 143)
        let resumed = try ServerProcess(framing: .lines, stateDirectory: server.stateDirectory)
        try resumed.initialize()
        XCTAssertEqual(try resumed.request("restoreSession", ["uri": "a"])["step"], .int(2))
        try resumed.stop()
    }
}
