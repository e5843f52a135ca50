import Foundation
import XCTest
import Imaging
import TestSupport

final class BatchCommandTests: XCTestCase {
    /// Six small images as two shards in parallel; one shard is killed once it has finished an
    /// item and is run again. Every item ends up written exactly once, whole, and the
    /// summaries list every item.
    func testShardsSurviveAKillAndARerun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var lines: [String] = []
        for k in 0..<6 {
            var image = RGBImage(width: 48, height: 40)
            for y in 0..<40 { for x in 0..<48 {
                let inside = abs(x - 8 - 5 * k) < 8 && abs(y - 20) < 10
                for c in 0..<3 { image[c, x, y] = inside ? 0.1 : 0.9 - Float(c) * 0.1 }
            } }
            try ImageFile.writePNG(image, to: dir.appendingPathComponent("img\(k).png").path)
            lines.append(#"{"image":"img\#(k).png","strokes":4,"iterations":4,"mask":"none"}"#)
        }
        let manifest = dir.appendingPathComponent("items.jsonl")
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path

        func start(_ shard: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
            p.arguments = ["batch", manifest.path, "--out", out, "--shard", shard, "--threads", "1"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let first = try start("0/2"), second = try start("1/2")
        // Kill shard 0 as soon as it has recorded one finished item.
        let summary0 = out + "/summary-0-of-2.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while first.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: summary0) { usleep(20_000) }
        let killedEarly = first.isRunning
        if killedEarly { kill(first.processIdentifier, SIGKILL) }
        first.waitUntilExit()
        second.waitUntilExit()
        XCTAssertEqual(second.terminationStatus, 0)
        let rerun = try start("0/2")
        rerun.waitUntilExit()
        XCTAssertEqual(rerun.terminationStatus, 0)

        let entries = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        XCTAssertEqual(entries, ["img0", "img1", "img2", "img3", "img4", "img5", "summary-0-of-2.jsonl", "summary-1-of-2.jsonl"],
                       "no temporary folders are left behind")
        for k in 0..<6 {
            let files = try FileManager.default.contentsOfDirectory(atPath: out + "/img\(k)").sorted()
            XCTAssertEqual(files, ["background.svg", "combined.svg", "done.json", "foreground.svg", "mask.png", "preview.png"])
            let svg = try String(contentsOfFile: out + "/img\(k)/combined.svg", encoding: .utf8)
            XCTAssertTrue(svg.hasPrefix("<?xml") && svg.contains("<path"))
        }
        var ids: [String] = []
        for s in ["0", "1"] {
            let text = try String(contentsOfFile: out + "/summary-\(s)-of-2.jsonl", encoding: .utf8)
            for line in text.split(separator: "\n") {
                let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                XCTAssertEqual(o["status"] as? String, "ok")
                XCTAssertNotNil(o["loss"] as? Double)
                ids.append(try XCTUnwrap(o["id"] as? String))
            }
        }
        XCTAssertEqual(ids.sorted(), (0..<6).map { "img\($0)" }, "each item in exactly one shard's summary")
        if killedEarly {
            let text = try String(contentsOfFile: summary0, encoding: .utf8)
            XCTAssertTrue(text.contains("\"reused\":true"), "the rerun reused what the killed shard finished: \(text)")
        }
    }

    func testFailedItemsAreRecordedAndTheExitCodeSaysSo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("batch-bad-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let manifest = dir.appendingPathComponent("items.jsonl")
        try ("{\"image\":\"nowhere.png\"}\nnot json\n{\"image\":\"x.png\",\"fidelity\":9}\n"
             + "{\"image\":\"y.png\",\"encoder\":\"vgg\"}\n").write(to: manifest, atomically: true, encoding: .utf8)
        let r = try runCLI(["batch", manifest.path, "--out", dir.appendingPathComponent("out").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("4 failed"), r.stderr)
        for id in ["nowhere", "line-2", "x", "y"] {
            let data = try Data(contentsOf: dir.appendingPathComponent("out/\(id)/error.json"))
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: data) as? [String: Any], id)
        }
        let encoderError = try String(contentsOf: dir.appendingPathComponent("out/y/error.json"), encoding: .utf8)
        XCTAssertTrue(encoderError.contains("clip-vit-b32"), encoderError)
        let bad = try runCLI(["batch", manifest.path, "--out", "/tmp/x", "--shard", "2/2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("0 ≤ I < N"), bad.stderr)
    }

    /// Ids that would collide with the summary or exceed the name limit, and settings the server
    /// would refuse, are each one failed item under a safe name; the items after them still run,
    /// on every rerun.
    func testBadIdsAndSettingsFailOnlyTheirItem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("batch-ids-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var image = RGBImage(width: 40, height: 32)
        for y in 0..<32 { for x in 0..<40 { for c in 0..<3 { image[c, x, y] = abs(x - 20) < 8 ? 0.1 : 0.9 } } }
        try ImageFile.writePNG(image, to: dir.appendingPathComponent("img.png").path)
        // IHDR claiming 4294967295 × 4294967295 (once a trap that killed the shard at this item).
        let ihdr: [UInt8] = Array("IHDR".utf8) + [UInt8](repeating: 0xFF, count: 8) + [8, 2, 0, 0, 0]
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr + [0, 0, 0, 0])
            .write(to: dir.appendingPathComponent("huge.png"))
        let small = #""paths":4,"iterations":2,"mask":"none""#
        let lines = [
            #"{"image":"img.png","id":"summary-0-of-1.jsonl",\#(small)}"#,
            #"{"image":"img.png","id":"\#(String(repeating: "x", count: 300))",\#(small)}"#,
            #"{"image":"img.png","id":"huge","paths":1e300,"iterations":2,"mask":"none"}"#,
            #"{"image":"img.png","id":"text","paths":"8","iterations":2,"mask":"none"}"#,
            #"{"image":"img.png","id":"negative","seed":-5,\#(small)}"#,
            #"{"image":"img.png","id":"fraction","iterations":2.5,"paths":4,"mask":"none"}"#,
            #"{"image":"huge.png","id":"hugeimage",\#(small)}"#,
            #"{"image":"img.png","id":"good",\#(small)}"#,
        ]
        let manifest = dir.appendingPathComponent("items.jsonl")
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        for run in 0..<2 {
            let r = try runCLI(["batch", manifest.path, "--out", out, "--threads", "1"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("8 items, 7 failed"), "run \(run): \(r.stderr)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/good/done.json"), "run \(run)")
        }
        let summary = try String(contentsOfFile: out + "/summary-0-of-1.jsonl", encoding: .utf8)
        XCTAssertEqual(summary.split(separator: "\n").count, 8)
        for (id, needle) in [("line-1", "reserved"), ("line-2", "limit"), ("huge", "1e300"), ("text", #"got \"8\""#),
                             ("negative", "-5"), ("fraction", "2.5"), ("hugeimage", "2³¹")] {
            let record = try String(contentsOfFile: out + "/\(id)/error.json", encoding: .utf8)
            XCTAssertTrue(record.contains(needle), "\(id): \(record)")
        }
    }
}
