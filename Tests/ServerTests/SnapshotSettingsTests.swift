import Foundation
import JSONRPC
import XCTest
import Server

/// Snapshots that do not pile up: off by flag, deleted with their document unless kept, and a
/// retention rule applied at start-up.
final class SnapshotSettingsTests: XCTestCase {
    func snapshots(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".clpsnap") }.sorted()
    }

    func testNoSnapshotsWritesNothing() throws {
        let server = try ServerProcess(framing: .lines, arguments: ["--no-snapshots"])
        try server.initialize()
        _ = try server.request("loadImage", ["uri": "a", "path": .string(bullPath), "options": ["mask": "none"]])
        _ = try server.request("step", ["uri": "a", "count": 2])
        XCTAssertEqual(try server.request("getStatus")["snapshots"]?["enabled"], .bool(false))
        try server.stop()
        XCTAssertEqual(snapshots(in: server.stateDirectory), [])
    }

    func testCloseDeletesTheSnapshotUnlessKept() throws {
        let server = try ServerProcess(framing: .lines)
        try server.initialize()
        for uri in ["gone", "kept", "old-spelling-kept"] {
            _ = try server.request("loadImage", ["uri": .string(uri), "path": .string(bullPath), "options": ["mask": "none"]])
        }
        let deadline = Date().addingTimeInterval(30)
        while snapshots(in: server.stateDirectory).count < 3 && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(snapshots(in: server.stateDirectory).count, 3)
        XCTAssertEqual(try server.request("closeDocument", ["uri": "gone"]), .null)
        XCTAssertEqual(try server.request("closeDocument", ["uri": "kept", "keepSnapshot": true]), .null)
        XCTAssertEqual(try server.request("closeDocument", ["uri": "old-spelling-kept", "forgetSnapshot": false]), .null)
        XCTAssertEqual(snapshots(in: server.stateDirectory).count, 2)
        XCTAssertEqual(try server.request("restoreSession", ["uri": "kept"])["step"], .int(0))
        XCTAssertEqual(try server.error("restoreSession", ["uri": "gone"])["code"], .int(-32803))
        try server.stop()
    }

    func testRetentionRuleAtStartUp() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retention-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let now = Date()
        // name, age in days, megabytes
        for (name, days, mb) in [("old", 10.0, 1), ("new1", 0.1, 3), ("new2", 0.2, 3), ("new3", 0.3, 3)] {
            let path = "\(dir)/\(name).clpsnap"
            FileManager.default.createFile(atPath: path, contents: Data(count: mb << 20))
            FileManager.default.createFile(atPath: "\(dir)/\(name).json", contents: Data("{}".utf8))
            try FileManager.default.setAttributes([.modificationDate: now.addingTimeInterval(-days * 86400)], ofItemAtPath: path)
        }
        FileManager.default.createFile(atPath: "\(dir)/notes.txt", contents: Data("not ours".utf8))
        let server = try ServerProcess(framing: .lines, arguments: ["--snapshot-max-age-days", "7", "--snapshot-max-megabytes", "7"],
                                       stateDirectory: dir)
        try server.initialize()
        // Too old: old. Over 7 MB once the two newest (6 MB) are kept: new3.
        XCTAssertEqual(snapshots(in: dir), ["new1.clpsnap", "new2.clpsnap"])
        let rest = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(rest, ["new1.clpsnap", "new1.json", "new2.clpsnap", "new2.json", "notes.txt"])
        try server.stop()
    }
}
