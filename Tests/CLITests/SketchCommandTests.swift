import Foundation
import XCTest
import Imaging
import TestSupport

final class SketchCommandTests: XCTestCase {
    func testInvalidParametersNameTheValidRange() throws {
        let bull = repoRoot.appendingPathComponent("examples/bull.jpg").path
        for (args, phrase) in [(["--strokes", "0"], "1…1024"), (["--paths", "0"], "1…1024"), (["--stroke-width", "0"], "strokeWidth"), (["--fidelity", "7"], "0…3"), (["--iterations", "0"], "1…100000"),
                               (["--learning-rate=-1"], "learningRate must be in (0, 1]"), (["--simplicity", "9"], "0…7"),
                               (["--depth", "16"], "1…15"), (["--encoder", "vgg"], "efficientnet-lite0"),
                               (["--mask", "/nonexistent/mask.png"], "--mask")] {
            let r = try runCLI(["sketch", bull] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(phrase), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "")
        }
    }

    /// Files the system will not read say why in its words, never Foundation's "error 256";
    /// a manifest that is not text says so (issue 24, item 16).
    func testUnreadableFilesSayWhy() throws {
        let mem = try runCLI(["sketch", "/proc/self/mem"])
        XCTAssertEqual(mem.status, 1)
        XCTAssertTrue(mem.stderr.contains("input/output error"), mem.stderr)
        XCTAssertFalse(mem.stderr.contains("NSCocoaErrorDomain"), mem.stderr)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("binary-manifest-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var rng = SystemRandomNumberGenerator()
        _ = FileManager.default.createFile(atPath: scratch, contents: Data([0xFF, 0xFE, 0x00] + (0..<512).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        let binary = try runCLI(["batch", scratch, "--out", scratch + "-out"])
        defer { try? FileManager.default.removeItem(atPath: scratch + "-out") }
        XCTAssertEqual(binary.status, 1)
        XCTAssertTrue(binary.stderr.contains("not UTF-8 text"), binary.stderr)
    }

    func testUnreadableImageIsAClearError() throws {
        let r = try runCLI(["sketch", "/nonexistent/photo.jpg"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no such file"), r.stderr)
    }

    /// Where the files go is checked before any work, in plain words: a regular file, a pipe
    /// or a socket given as --out, or a pipe where an output file would go (issue 24, items 4
    /// and 7: an existing file was found only after the whole optimisation, with a raw
    /// NSCocoaErrorDomain code).
    func testOutputPathsAreCheckedBeforeAnyWork() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("out-check-\(UUID())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let bull = repoRoot.appendingPathComponent("examples/bull.jpg").path
        let file = scratch + "/a-file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        var outs = [(file, "a regular file, not a folder")]
        for (path, kind) in makeSpecialFiles(in: scratch) { outs.append((path, kind)) }
        let folder = scratch + "/folder"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(folder + "/combined.svg", 0o644), 0)
        for command in [["sketch", bull], ["matrix", bull, "--fidelities", "0", "--simplicities", "0"], ["prepare", bull]] {
            for (out, phrase) in outs + [(folder, "named pipe")] where !(command[0] != "sketch" && out == folder) {
                let started = Date()
                let r = try runCLI(command + ["--out", out])
                XCTAssertEqual(r.status, 1, "\(command[0]) --out \(out)")
                XCTAssertTrue(r.stderr.contains(phrase), "\(command[0]) --out \(out): \(r.stderr)")
                XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
                XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refused before any work")
            }
        }
        XCTAssertEqual(fileKind(folder + "/combined.svg"), S_IFIFO)
        XCTAssertEqual(FileManager.default.contents(atPath: file), Data("x".utf8))
    }

    /// A tiny end-to-end run of the command: all five files appear and the SVGs parse.
    func testSketchWritesItsFiles() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sketch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try runCLI(["sketch", repoRoot.appendingPathComponent("examples/house.jpg").path, "--strokes", "8",
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
        var mask = GrayImage(width: 40, height: 40, value: 0)   // the photo's shape (500 × 500), smaller
        for y in 0..<40 { for x in 0..<20 { mask.pixels[y * 40 + x] = 1 } }
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
}
