import Foundation
import JSONRPC
import XCTest
import Server

/// What editors' LSP clients rely on: who cancelled decides the error code, the progress
/// Cancel button works, progress without a client token, and a slider that supersedes a step.
final class LSPFidelityTests: XCTestCase {
    func loaded(_ capabilities: JSON = [:]) throws -> ServerProcess {
        let server = try ServerProcess(framing: .headers)
        _ = try server.request("initialize", ["processId": .null, "capabilities": capabilities])
        server.notify("initialized")
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("setAbstraction", ["uri": "a", "iterations": 5000, "numPaths": 16])
        return server
    }

    /// VS Code's Cancel button sends window/workDoneProgress/cancel with the token.
    func testProgressCancelStopsTheRequestThatOwnsTheToken() throws {
        let server = try loaded()
        let step = server.call("step", ["uri": "a", "count": 5000, "workDoneToken": "slider-1"])
        _ = try server.waitFor("a progress report") { $0["params"]?["value"]?["kind"] == "report" }
        server.notify("window/workDoneProgress/cancel", ["token": "slider-1"])
        let reply = try server.response(to: step)
        XCTAssertEqual(reply["error"]?["code"], .int(-32800), "the client asked: RequestCancelled")
        XCTAssertNotNil(reply["error"]?["data"]?["step"])
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// A cancel the client did not ask for is -32802 ServerCancelled (Neovim drops -32800
    /// replies as "you asked for it"), with the state reached.
    func testServerSideCancelsAreServerCancelled() throws {
        let server = try loaded()
        let step = server.call("step", ["uri": "a", "count": 5000])
        try server.waitForStep("a")
        XCTAssertEqual(try server.request("closeDocument", ["uri": "a"]), .null)
        let closed = try server.response(to: step)
        XCTAssertEqual(closed["error"]?["code"], .int(-32802))
        XCTAssertNotNil(closed["error"]?["data"]?["step"])
        if case .string(let m)? = closed["error"]?["message"] { XCTAssertTrue(m.contains("closed"), m) }
        // $/cancelRequest is still -32800.
        _ = try server.request("loadImage", ["uri": "b", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("setAbstraction", ["uri": "b", "iterations": 5000, "numPaths": 16])
        let second = server.call("step", ["uri": "b", "count": 5000])
        try server.waitForStep("b")
        server.notify("$/cancelRequest", ["id": second])
        XCTAssertEqual(try server.response(to: second)["error"]?["code"], .int(-32800))
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// An editor slider: setAbstraction during a long step stops the step at once (-32802,
    /// the state reached) and applies the new abstraction.
    func testSetAbstractionSupersedesARunningStep() throws {
        let server = try loaded()
        let step = server.call("step", ["uri": "a", "count": 5000])
        try server.waitForStep("a")
        let slider = server.call("setAbstraction", ["uri": "a", "fidelity": 2])
        let stopped = try server.response(to: step, timeout: 30)
        XCTAssertEqual(stopped["error"]?["code"], .int(-32802))
        if case .string(let m)? = stopped["error"]?["message"] { XCTAssertTrue(m.contains("superseded"), m) }
        let applied = try server.response(to: slider, timeout: 30)
        XCTAssertEqual(applied["result"]?["abstraction"]?["fidelity"], .int(2))
        XCTAssertEqual(applied["result"]?["change"], "restarted")
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }

    /// A client that declares window.workDoneProgress gets progress without passing a token:
    /// the server creates one (window/workDoneProgress/create) and reports on it.
    func testServerInitiatedProgress() throws {
        let server = try loaded(["window": ["workDoneProgress": true]])
        let step = server.call("step", ["uri": "a", "count": 3])
        XCTAssertNotNil(try server.response(to: step)["result"])
        let create = try server.waitFor("window/workDoneProgress/create") { $0["method"] == "window/workDoneProgress/create" }
        guard let token = create["params"]?["token"], case .string(let t) = token else { return XCTFail(create.text) }
        let values = server.progress(t)
        XCTAssertEqual(values.first?["kind"], "begin")
        XCTAssertEqual(values.last?["kind"], "end")
        // The create request came before the first report on its token.
        let messages = server.messages
        let createIndex = messages.firstIndex { $0["method"] == "window/workDoneProgress/create" }
        let beginIndex = messages.firstIndex { $0["method"] == "$/progress" && $0["params"]?["token"] == token }
        if let createIndex, let beginIndex { XCTAssertLessThan(createIndex, beginIndex) } else { XCTFail("missing messages") }
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])
    }
}
