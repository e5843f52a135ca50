import Foundation
import JSONRPC
import XCTest
import TestSupport

final class SpeculationTests: XCTestCase {
    let uri = "file:///bull.jpg"

    func finishedDocument(_ server: ServerProcess, _ settings: JSON) throws {
        try server.initialize()
        _ = try server.request("loadImage", ["uri": .string(uri), "path": .string(bullPath)])
        _ = try server.request("setAbstraction", JSON(["uri": .string(uri)]).merging(settings))
        let done = try server.request("step", ["uri": .string(uri), "count": 100_000])
        XCTAssertEqual(done["complete"], true)
    }

    /// The document's speculated cells, from getStatus.
    func cells(_ server: ServerProcess) throws -> [JSON] {
        guard case .array(let docs)? = try server.request("getStatus")["documents"],
              case .array(let cells)? = docs.first(where: { $0["uri"] == .string(uri) })?["speculatedCells"] else { return [] }
        return cells
    }

    func waitForCells(_ server: ServerProcess, _ done: ([JSON]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(180)
        while !done(try cells(server)) {
            guard Date() < deadline else { throw ServerTestError("speculation did not get there: \(try cells(server))") }
            usleep(50_000)
        }
    }

    /// A finished, idle document computes its neighbours; a setAbstraction onto one answers
    /// `ready` with the very drawing a server without speculation reaches by stepping there.
    func testASetAbstractionOntoAComputedCellIsReadyAndDrawsTheSame() throws {
        let settings: JSON = ["strokes": 8, "iterations": 3, "simplicityIterations": 2]
        let server = try ServerProcess(arguments: ["--speculate-cells", "2", "--no-snapshots"])
        try finishedDocument(server, settings)
        XCTAssertEqual(try server.request("getStatus")["speculateCells"], 2)
        try waitForCells(server) { cells in cells.count == 2 && cells.allSatisfy { $0["step"] == $0["totalSteps"] } }
        let held = try cells(server).map { [$0["fidelity"], $0["simplicity"]] }
        XCTAssertEqual(held, [[0, 1], [1, 0]], "simplicity +1 first, then fidelity +1")
        let ready = try server.request("setAbstraction", ["uri": .string(uri), "simplicity": 1])
        XCTAssertEqual(ready["change"], "ready")
        XCTAssertEqual(ready["step"], ready["totalSteps"])
        let speculated = try server.request("getSVG", ["uri": .string(uri)])["svg"]
        try server.stop()
        XCTAssertEqual(server.schemaProblems, [])

        let plain = try ServerProcess(arguments: ["--speculate-cells", "0", "--no-snapshots"])
        try finishedDocument(plain, settings)
        XCTAssertEqual(try plain.request("getStatus")["speculateCells"], 0)
        XCTAssertEqual(try plain.request("setAbstraction", ["uri": .string(uri), "simplicity": 1])["change"], "continued")
        _ = try plain.request("step", ["uri": .string(uri), "count": 100_000])
        XCTAssertEqual(try plain.request("getSVG", ["uri": .string(uri)])["svg"], speculated)
        XCTAssertEqual(try cells(plain), [])
        try plain.stop()
    }

    /// The bound is the server's: two finished documents under `--speculate-cells 1` hold one
    /// cell between them; closing that document gives the slot to the other.
    func testTheCellBoundHoldsAcrossDocuments() throws {
        let server = try ServerProcess(arguments: ["--speculate-cells", "1", "--no-snapshots"])
        try server.initialize()
        for doc in ["a", "b"] {
            _ = try server.request("loadImage", ["uri": .string(doc), "path": .string(bullPath)])
            _ = try server.request("setAbstraction", ["uri": .string(doc), "strokes": 8, "iterations": 2, "simplicityIterations": 1])
            _ = try server.request("step", ["uri": .string(doc), "count": 1000])
        }
        func held() throws -> [String: [JSON]] {
            guard case .array(let docs)? = try server.request("getStatus")["documents"] else { return [:] }
            var out: [String: [JSON]] = [:]
            for d in docs { if case .string(let u)? = d["uri"], case .array(let c)? = d["speculatedCells"] { out[u] = c } }
            return out
        }
        let deadline = Date().addingTimeInterval(120)
        while try held().values.joined().filter({ $0["step"] == $0["totalSteps"] }).isEmpty {
            guard Date() < deadline else { return XCTFail("no cell was finished: \(try held())") }
            usleep(50_000)
        }
        usleep(1_500_000)   // time enough for a second cell, were the bound per document
        let cells = try held()
        XCTAssertEqual(cells.values.joined().count, 1, "\(cells)")
        guard let owner = cells.first(where: { !$0.value.isEmpty })?.key else { return XCTFail("no owner") }
        let other = owner == "a" ? "b" : "a"
        _ = try server.request("closeDocument", ["uri": .string(owner)])
        let later = Date().addingTimeInterval(120)
        while try (held()[other] ?? []).isEmpty {
            guard Date() < later else { return XCTFail("the slot did not pass to \(other): \(try held())") }
            usleep(50_000)
        }
        try server.stop()
    }

    /// A request for the document pre-empts speculation within one step: between its arrival
    /// and its start at most one round of speculation begins (the order of events, numbered by
    /// the server, not wall time).
    func testARequestPreemptsSpeculationWithinOneStep() throws {
        let server = try ServerProcess(arguments: ["--speculate-cells", "2", "--no-snapshots"],
                                       environment: ["CLIPASCENE_TRACE_EVENTS": "1"])
        try finishedDocument(server, ["strokes": 8, "iterations": 40, "simplicityIterations": 2])
        // The fidelity +1 cell starts afresh: 80 steps, long enough to be caught mid-way.
        try waitForCells(server) { cells in cells.contains { $0["fidelity"] == 1 && ($0["step"]?.numberValue ?? 0) > 0 } }
        for _ in 0..<3 {
            XCTAssertEqual(try server.request("setAbstraction", ["uri": .string(uri), "strokes": 8])["change"], "unchanged")
        }
        try server.stop()
        let events = server.stderrText.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "clipascene serve: event ") else { return nil }
            return String(line[r.upperBound...].drop { $0 != ":" }.dropFirst(2))
        }
        var checked = 0
        for (i, event) in events.enumerated() where event.hasPrefix("arrived setAbstraction") {
            guard let start = events[(i + 1)...].firstIndex(where: { $0.hasPrefix("started setAbstraction") }) else {
                return XCTFail("setAbstraction never started: \(events)")
            }
            let rounds = events[(i + 1)..<start].filter { $0.hasPrefix("speculation round") }.count
            XCTAssertLessThanOrEqual(rounds, 1, "rounds of speculation began after a request arrived: \(events[i...start])")
            if events[..<i].last(where: { $0.hasPrefix("speculation round") || $0.hasPrefix("started") })?.hasPrefix("speculation round") == true {
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0, "no request arrived while speculation was running: \(events.suffix(40))")
    }
}
