import Foundation
import XCTest
import Imaging

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The built executable: $CLIPASCENE_BIN, else the newest of the release and debug builds.
func clipasceneBinary() throws -> String {
    if let env = ProcessInfo.processInfo.environment["CLIPASCENE_BIN"] { return env }
    let candidates = ["release", "debug"].map { repoRoot.appendingPathComponent(".build/\($0)/clipascene").path }
    let existing = candidates.filter { FileManager.default.isExecutableFile(atPath: $0) }
    let newest = existing.max { a, b in
        let da = (try? FileManager.default.attributesOfItem(atPath: a)[.modificationDate] as? Date) ?? .distantPast
        let db = (try? FileManager.default.attributesOfItem(atPath: b)[.modificationDate] as? Date) ?? .distantPast
        return da < db
    }
    guard let newest else { throw XCTSkip("build clipascene first (make build)") }
    return newest
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCLI(_ args: [String]) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
}

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
            ("/dev/zero", "a device"),
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

final class SketchCommandTests: XCTestCase {
    func testInvalidParametersNameTheValidRange() throws {
        let bull = repoRoot.appendingPathComponent("examples/bull.jpg").path
        for (args, phrase) in [(["--paths", "0"], "1…1024"), (["--fidelity", "7"], "0…3"), (["--iterations", "0"], "1…100000"),
                               (["--learning-rate=-1"], "learningRate must be in (0, 1]"), (["--simplicity", "9"], "0…7"),
                               (["--depth", "16"], "1…15"), (["--encoder", "vgg"], "efficientnet-lite0"),
                               (["--mask", "/nonexistent/mask.png"], "--mask")] {
            let r = try runCLI(["sketch", bull] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(phrase), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "")
        }
    }

    func testUnreadableImageIsAClearError() throws {
        let r = try runCLI(["sketch", "/nonexistent/photo.jpg"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no such file"), r.stderr)
    }

    /// A tiny end-to-end run of the command: all five files appear and the SVGs parse.
    func testSketchWritesItsFiles() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sketch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try runCLI(["sketch", repoRoot.appendingPathComponent("examples/house.jpg").path, "--paths", "8",
                            "--iterations", "2", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["combined.svg", "foreground.svg", "background.svg", "preview.png", "mask.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        let svg = try String(contentsOf: out.appendingPathComponent("combined.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("<g id=\"foreground\">"))
    }

    /// A user mask (the left half of the photo is the "subject") and a user background
    /// (a flat gray image) replace U²-Net and the inpainting; `--depth` picks one block.
    func testUserMaskBackgroundAndDepth() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inputs-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var mask = GrayImage(width: 40, height: 30, value: 0)
        for y in 0..<30 { for x in 0..<20 { mask.pixels[y * 40 + x] = 1 } }
        try ImageFile.writePNG(mask, to: dir.appendingPathComponent("mask.png").path)
        try ImageFile.writePNG(GrayImage(width: 16, height: 16, value: 0.5), to: dir.appendingPathComponent("bg.png").path)
        let out = dir.appendingPathComponent("out")
        let r = try runCLI(["sketch", repoRoot.appendingPathComponent("examples/house.jpg").path, "--paths", "4",
                            "--iterations", "1", "--depth", "3", "--mask", dir.appendingPathComponent("mask.png").path,
                            "--background", dir.appendingPathComponent("bg.png").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("covers 50%"), r.stderr)
        let written = try ImageFile.decode(path: out.appendingPathComponent("mask.png").path)
        XCTAssertEqual(written.pixels[0], 1, "left is the subject")
        XCTAssertEqual(written.pixels[written.width - 1], 0, "right is background")
        let none = try runCLI(["sketch", repoRoot.appendingPathComponent("examples/house.jpg").path, "--paths", "4",
                               "--iterations", "1", "--mask", "none", "--out", out.path])
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertTrue(none.stderr.contains("not found (all background)"), none.stderr)
    }

    /// A tiny 2 × 2 matrix: one SVG per cell and the contact sheet.
    func testMatrixWritesEveryCellAndASheet() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("matrix-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try runCLI(["matrix", repoRoot.appendingPathComponent("examples/house.jpg").path, "--paths", "4",
                            "--iterations", "1", "--simplicity-iterations", "1", "--fidelities", "0,3",
                            "--simplicities", "0,2", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["f0_s0.svg", "f0_s2.svg", "f3_s0.svg", "f3_s2.svg", "matrix.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        let bad = try runCLI(["matrix", repoRoot.appendingPathComponent("examples/house.jpg").path, "--simplicities", "4,2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("increasing"), bad.stderr)
    }
}

final class QualityBenchTests: XCTestCase {
    /// bench quality on a small generated photo: the table, the JSON record and the sheet.
    func testQualityBenchWritesItsTableAndSheet() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quality-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var image = RGBImage(width: 64, height: 48)
        for y in 0..<48 { for x in 0..<64 { for c in 0..<3 { image[c, x, y] = abs(x - 32) < 12 && abs(y - 24) < 10 ? 0.1 : 0.9 } } }
        let photo = dir.appendingPathComponent("box.png").path
        try ImageFile.writePNG(image, to: photo)
        let r = try runCLI(["bench", "quality", photo, "--iterations", "2", "--out", dir.appendingPathComponent("q").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("| photo | precision px | recall px | ink | dots | left out | s |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| box.png |"), r.stdout)
        for file in ["quality.md", "quality.json", "quality.png", "box/combined.svg", "box/combined.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("q/\(file)").path), file)
        }
    }
}
