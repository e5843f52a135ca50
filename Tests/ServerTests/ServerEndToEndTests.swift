import Foundation
import JSONRPC
import XCTest
import Imaging
import Server
import TestSupport

let bullPath = repoRoot.appendingPathComponent("examples/bull.jpg").path

/// A short schedule so a whole run takes seconds.
let quick: JSON = ["iterations": 3, "simplicity": 1, "simplicityIterations": 2, "strokes": 16]

final class ServerEndToEndTests: XCTestCase {
    func testLifecycleAndExitCodes() throws {
        // Requests before initialize are refused; shutdown then exit ends with 0.
        let server = try ServerProcess()
        let early = try server.error("getStatus", validate: true)
        XCTAssertEqual(early["code"], .int(-32002))
        let result = try server.request("initialize", ["processId": .null, "capabilities": [:]])
        XCTAssertEqual(result["serverInfo"]?["name"], "clipascene")
        XCTAssertEqual(try server.error("initialize")["code"], .int(-32600))
        server.notify("initialized")
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])

        // exit without shutdown: 1.
        let abrupt = try ServerProcess()
        try abrupt.initialize()
        abrupt.notify("exit")
        XCTAssertEqual(abrupt.waitForExit(timeout: 10), 1)

        // End of input without shutdown: 1; after shutdown: 0.
        let closed = try ServerProcess()
        try closed.initialize()
        closed.closeInput()
        XCTAssertEqual(closed.waitForExit(timeout: 10), 1)
        let polite = try ServerProcess(framing: .lines)
        try polite.initialize()
        XCTAssertEqual(try polite.request("shutdown"), .null)
        XCTAssertEqual(try polite.error("getStatus")["code"], .int(-32600))
        polite.closeInput()
        XCTAssertEqual(polite.waitForExit(timeout: 10), 0)
    }

    /// Every method once, in LSP framing, with the automatic subject mask.
    func testEveryMethod() throws {
        let server = try ServerProcess()
        try server.initialize()
        let loaded = try server.request("loadImage", ["uri": "file:///bull.jpg", "path": .string(bullPath), "workDoneToken": "load"])
        XCTAssertEqual(loaded["width"], .int(500))
        XCTAssertEqual(loaded["subjectFound"], .bool(true))
        XCTAssertEqual(server.progress("load").first?["kind"], "begin")
        XCTAssertEqual(server.progress("load").last?["kind"], "end")

        let set = try server.request("setAbstraction", JSON(["uri": "file:///bull.jpg"]).merging(quick))
        XCTAssertEqual(set["change"], "restarted")
        XCTAssertEqual(set["totalSteps"], .int(2 * (3 + 2)))

        let stepped = try server.request("step", ["uri": "file:///bull.jpg", "count": 100, "workDoneToken": "run"])
        XCTAssertEqual(stepped["step"], .int(10))
        XCTAssertEqual(stepped["stepsRun"], .int(10))
        XCTAssertEqual(stepped["complete"], .bool(true))
        XCTAssertEqual(stepped["converged"], .bool(true))
        XCTAssertEqual(stepped["level"], .int(1))
        let kinds = server.progress("run").compactMap { $0["kind"] }
        XCTAssertEqual(kinds.first, "begin")
        XCTAssertEqual(kinds.last, "end")
        XCTAssertTrue(kinds.dropFirst().dropLast().allSatisfy { $0 == "report" } && kinds.count >= 3, "\(kinds)")
        let percentages = server.progress("run").compactMap { v -> Int? in if case .int(let p)? = v["percentage"] { return p } else { return nil } }
        XCTAssertEqual(percentages, percentages.sorted())

        for part in ["combined", "foreground", "background"] {
            let svg = try server.request("getSVG", ["uri": "file:///bull.jpg", "part": .string(part)])
            guard case .string(let text)? = svg["svg"] else { return XCTFail("no svg") }
            XCTAssertTrue(text.hasPrefix("<svg") || text.hasPrefix("<?xml"), part)
            XCTAssertTrue(text.contains("<path"), part)
        }
        let preview = try server.request("getPreview", ["uri": "file:///bull.jpg", "scale": 1])
        guard case .string(let png)? = preview["png"], let bytes = Data(base64Encoded: png) else { return XCTFail("no png") }
        let image = try ImageFile.decode(data: bytes)
        XCTAssertEqual(image.width, 224)
        XCTAssertLessThan(image.pixels.reduce(0, +) / Float(image.pixels.count), 0.999, "the preview shows ink")

        let out = NSTemporaryDirectory() + "clipascene-matrix-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let matrix = try server.request("runMatrix", ["uri": "file:///bull.jpg", "fidelities": [0, 3], "simplicities": [0, 1],
                                                      "outDir": .string(out), "workDoneToken": "matrix"])
        if case .array(let cells)? = matrix["cells"] { XCTAssertEqual(cells.count, 4) } else { XCTFail("no cells") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/matrix.png"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/f3_s1.svg"))
        XCTAssertEqual(server.progress("matrix").last?["kind"], "end")

        let saved = try server.request("saveSession", ["uri": "file:///bull.jpg", "path": .string(out + "/bull.clpsnap")])
        XCTAssertEqual(saved["step"], .int(10))
        let restored = try server.request("restoreSession", ["uri": "copy", "path": .string(out + "/bull.clpsnap")])
        XCTAssertEqual(restored["step"], .int(10))
        XCTAssertEqual(try server.request("getSVG", ["uri": "copy"])["svg"], try server.request("getSVG", ["uri": "file:///bull.jpg"])["svg"])

        // Going back to simplicity 0 rewinds to the end of the fidelity phase.
        let back = try server.request("setAbstraction", ["uri": "copy", "simplicity": 0])
        XCTAssertEqual(back["change"], "rewound")
        XCTAssertEqual(back["step"], .int(6))

        let status = try server.request("getStatus")
        if case .array(let docs)? = status["documents"] { XCTAssertEqual(docs.count, 2) } else { XCTFail("no documents") }
        XCTAssertEqual(try server.request("closeDocument", ["uri": "copy"]), .null)
        XCTAssertEqual(try server.error("getSVG", ["uri": "copy"])["code"], .int(-32602))
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    func testLineFramingWithProgress() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("setAbstraction", JSON(["uri": "a"]).merging(quick))
        let r = try server.request("step", ["uri": "a", "count": 4, "workDoneToken": 7])
        XCTAssertEqual(r["step"], .int(4))
        let kinds = server.progress("7").compactMap { $0["kind"] } + messagesFor(server, token: 7)
        XCTAssertEqual(kinds.first, "begin")
        XCTAssertEqual(kinds.last, "end")
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    func messagesFor(_ server: ServerProcess, token: Int) -> [JSON] {
        server.messages.filter { $0["params"]?["token"] == .int(token) }.compactMap { $0["params"]?["value"]?["kind"] }
    }

    func testCancellationMidStepAndGetSVGWhileRunning() throws {
        let server = try ServerProcess()
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        let id = server.call("step", ["uri": "a", "count": 100_000, "workDoneToken": "long"])
        try server.waitUntil("two progress reports") { ServerProcess.progress("long", in: $0).filter { $0["kind"] == "report" }.count >= 2 }

        // getSVG is answered while the step runs, with the last completed state.
        let asked = Date()
        let svg = try server.request("getSVG", ["uri": "a"])
        XCTAssertLessThan(Date().timeIntervalSince(asked), 0.5)
        if case .int(let s)? = svg["step"] { XCTAssertGreaterThanOrEqual(s, 2) } else { XCTFail("no step") }
        XCTAssertEqual(try server.request("getStatus")["documents"].map { docs -> JSON? in
            if case .array(let d) = docs { return d.first?["busy"] } else { return nil } } ?? nil, "step")

        let cancelled = Date()
        server.notify("$/cancelRequest", ["id": id])
        let r = try server.response(to: id, timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(cancelled), 2, "cancel takes effect within one step")
        XCTAssertEqual(r["error"]?["code"], .int(-32800))
        guard case .int(let reached)? = r["error"]?["data"]?["step"] else { return XCTFail("no step in the error data") }
        XCTAssertGreaterThan(reached, 0)
        XCTAssertEqual(server.progress("long").last?["kind"], "end")
        // The document is consistent: it steps on from where it stopped.
        let next = try server.request("step", ["uri": "a", "count": 1])
        XCTAssertEqual(next["step"], .int(reached + 1))
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    func testTwoDocumentsInterleave() throws {
        let server = try ServerProcess()
        try server.initialize()
        for uri in ["a", "b"] {
            _ = try server.request("loadImage", ["uri": .string(uri), "path": .string(bullPath), "options": ["mask": "none"]])
        }
        let a = server.call("step", ["uri": "a", "count": 6, "workDoneToken": "a"])
        let b = server.call("step", ["uri": "b", "count": 6, "workDoneToken": "b"])
        _ = try server.response(to: a)
        _ = try server.response(to: b)
        // Reports of the two runs alternate rather than one run finishing before the other starts.
        let order = server.messages.compactMap { m -> String? in
            guard m["method"] == "$/progress", m["params"]?["value"]?["kind"] == "report",
                  case .string(let t)? = m["params"]?["token"] else { return nil }
            return t
        }
        XCTAssertEqual(order.count, 12)
        let firstB = order.firstIndex(of: "b") ?? order.count
        let lastA = order.lastIndex(of: "a") ?? 0
        XCTAssertLessThan(firstB, lastA, "b's steps start before a's end: \(order)")
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }
}

extension JSON {
    func merging(_ other: JSON) -> JSON {
        guard case .object(var a) = self, case .object(let b) = other else { return self }
        a.merge(b) { _, new in new }
        return .object(a)
    }
}

extension JSON {
    init(_ object: [String: JSON]) { self = .object(object) }
}

/// Runs a Python script from protocol/python with the test packages on PYTHONPATH; returns
/// its exit status and combined output.
func runPython(_ script: String, _ arguments: [String]) throws -> (Int32, String) {
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = ["python3", repoRoot.appendingPathComponent("protocol/python/\(script)").path] + arguments
    var env = ProcessInfo.processInfo.environment
    env["PYTHONPATH"] = repoRoot.appendingPathComponent(".build/python").path
    env["CLIPASCENE_BIN"] = try clipasceneBinary()
    python.environment = env
    let out = Pipe()
    python.standardOutput = out
    python.standardError = out
    try python.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    python.waitUntilExit()
    return (python.terminationStatus, text)
}

final class PythonClientTests: XCTestCase {
    /// The shipped Python client and pygls's LanguageClient drive the real server, every
    /// message validated with the `jsonschema` package (protocol/python/test_clients.py).
    func testShippedClientAndPygls() throws {
        let (status, text) = try runPython("test_clients.py", [bullPath])
        XCTAssertEqual(status, 0, "test_clients.py failed (run scripts/setup --test to install pygls and jsonschema):\n\(text)")
        XCTAssertTrue(text.contains("pygls LanguageClient: ok"), text)
    }

    /// What notebook users write first: callbacks that raise or call the client, Ctrl-C /
    /// "Interrupt kernel", re-run `c = Client()` cells, PNG beside SVG, `pip install`
    /// (protocol/python/test_client_robustness.py).
    func testPythonClientSurvivesNotebookHabits() throws {
        let (status, text) = try runPython("test_client_robustness.py", [bullPath])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("all ok"), text)
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("interrupt: ok") }) { print(line) }
    }

    /// examples/sketch.ipynb executed by nbclient in a real kernel: the live sketch refreshes
    /// more than once, drawings come as PNG and SVG, the matrix as PNG and HTML.
    func testExampleNotebookRunsWithNbclient() throws {
        let (status, text) = try runPython("test_notebook.py", [])
        XCTAssertEqual(status, 0, "test_notebook.py failed (scripts/setup --test installs nbclient and ipykernel):\n\(text)")
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("notebook: ok") }) { print(line) } else { XCTFail(text) }
    }

    /// The Ray driver spreads a manifest over two actors, each with its own `clipascene serve`;
    /// a rerun reuses every finished item.
    func testRayDriverRunsABatch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ray-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var lines: [String] = []
        for k in 0..<4 {
            var image = RGBImage(width: 40, height: 32)
            for y in 0..<32 { for x in 0..<40 where abs(x - 10 - 6 * k) < 6 && abs(y - 16) < 8 {
                for c in 0..<3 { image[c, x, y] = 1 } } }
            try ImageFile.writePNG(image, to: dir.appendingPathComponent("r\(k).png").path)
            lines.append(#"{"image":"r\#(k).png","paths":4,"iterations":3,"mask":"none"}"#)
        }
        lines.append(#"{"image":"missing.png"}"#)
        let manifest = dir.appendingPathComponent("items.jsonl")
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let (status, text) = try runPython("ray_batch.py", [manifest.path, "--out", out, "--actors", "2"])
        XCTAssertEqual(status, 1, "one item fails, so the exit code is 1:\n\(text)")
        XCTAssertTrue(text.contains("5 items, 1 failed"), text)
        for k in 0..<4 {
            let files = try FileManager.default.contentsOfDirectory(atPath: out + "/r\(k)").sorted()
            XCTAssertEqual(files, ["background.svg", "combined.svg", "done.json", "foreground.svg", "preview.png"])
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/missing/error.json"))
        let summary = try String(contentsOfFile: out + "/summary-ray.jsonl", encoding: .utf8)
        let workers = Set(summary.split(separator: "\n").compactMap { line -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["worker"] as? Int })
        XCTAssertEqual(workers.count, 2, "both actors took items: \(summary)")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: out).contains { $0.hasPrefix(".tmp-") })
    }

}
