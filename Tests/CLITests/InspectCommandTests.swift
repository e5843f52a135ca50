import Foundation
import XCTest
import Imaging
import TestSupport

final class InspectCommandTests: XCTestCase {
    func testVersionAndHelp() throws {
        let v = try runCLI(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.hasPrefix("0."), v.stdout)
        let h = try runCLI(["--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("inspect"))
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testInspectExample() throws {
        let r = try runCLI(["inspect", repoRoot.appendingPathComponent("examples/bull.jpg").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try json(r.stdout)
        XCTAssertEqual(obj["format"] as? String, "jpeg")
        XCTAssertEqual(obj["width"] as? Int, 500)
        XCTAssertEqual(obj["height"] as? Int, 500)
        XCTAssertEqual(obj["channels"] as? Int, 3)
        XCTAssertEqual(obj["defaultCheckpointsReady"] as? Bool, true)
        let ck = try XCTUnwrap(obj["checkpoints"] as? [String: String])
        XCTAssertEqual(ck["efficientnet-lite0"], "valid")
        XCTAssertEqual(ck["u2netp"], "valid")
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 1, "one JSON object on one line")
    }

    func testJPEGNamedPNGIsReportedAsJPEG() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("really-a-jpeg-\(UUID()).png")
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("examples/house.jpg"), to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let r = try runCLI(["inspect", tmp.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["format"] as? String, "jpeg")
    }

    func testBadInputExitsNonZeroWithAMessageAndNothingOnStdout() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bull = try Data(contentsOf: repoRoot.appendingPathComponent("examples/bull.jpg"))
        try Data().write(to: dir.appendingPathComponent("empty.jpg"))
        try bull.prefix(bull.count / 3).write(to: dir.appendingPathComponent("cut.jpg"))
        try Data("GIF89a....".utf8).write(to: dir.appendingPathComponent("anim.png"))
        // An IHDR claiming 4294967295 × 4294967295 (width × height once overflowed and trapped).
        let ihdr: [UInt8] = Array("IHDR".utf8) + [UInt8](repeating: 0xFF, count: 8) + [8, 2, 0, 0, 0]
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr + [0, 0, 0, 0])
            .write(to: dir.appendingPathComponent("huge.png"))
        let cases: [(String, String)] = [
            (dir.appendingPathComponent("huge.png").path, "2³¹"),
            ("/dev/zero", "a character device"),
            (dir.appendingPathComponent("missing.png").path, "no such file"),
            (dir.appendingPathComponent("empty.jpg").path, "empty"),
            (dir.appendingPathComponent("cut.jpg").path, "truncated"),
            (dir.appendingPathComponent("anim.png").path, "GIF"),
            (dir.path, "directory"),
        ]
        for (path, phrase) in cases {
            let r = try runCLI(["inspect", path])
            XCTAssertNotEqual(r.status, 0, path)
            XCTAssertEqual(r.stdout, "", path)
            XCTAssertTrue(r.stderr.contains(phrase), "\(path): \(r.stderr)")
        }
        for command in ["sketch", "matrix"] {
            let r = try runCLI([command, dir.appendingPathComponent("huge.png").path, "--out", dir.appendingPathComponent("o").path])
            XCTAssertEqual(r.status, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("2³¹"), "\(command): \(r.stderr)")
        }
        let big = try runCLI(["inspect", "--max-pixels", "1000", repoRoot.appendingPathComponent("examples/bull.jpg").path])
        XCTAssertNotEqual(big.status, 0)
        XCTAssertTrue(big.stderr.contains("above the limit"), big.stderr)
    }
}
