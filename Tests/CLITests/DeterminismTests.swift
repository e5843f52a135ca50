import Foundation
import XCTest
import TestSupport

/// Same seed, same bytes: two processes whose heaps are laid out differently (a throwaway
/// allocation of a random size first, `CLIPASCENE_HEAP_SHIFT`) write byte-identical drawings,
/// on every OpenBLAS kernel set this CPU can execute and on one thread or two; and without
/// `OPENBLAS_CORETYPE` the engine draws on the portable set, whatever the CPU
/// (docs/determinism.md).
final class DeterminismTests: XCTestCase {
    let bull = repoRoot.appendingPathComponent("examples/bull.jpg").path

    struct Drawn {
        var status: Int32
        var stderr: String
        var files: [String: Data]
    }

    /// Runs `clipascene` with `args` and `--out` a fresh folder, under `environment` (added to
    /// ours, with `OPENBLAS_CORETYPE` removed unless given), and reads back `files`.
    func draw(_ args: [String], files: [String], environment: [String: String] = [:]) throws -> Drawn {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("determinism-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let log = out.appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
        p.arguments = args + ["--out", out.path]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env.merge(environment) { $1 }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        var read: [String: Data] = [:]
        for f in files { read[f] = try? Data(contentsOf: out.appendingPathComponent(f)) }
        return Drawn(status: p.terminationStatus, stderr: stderr, files: read)
    }

    /// A heap shift whose block ends at 16, 32 or 48 bytes past a 64-byte boundary (malloc
    /// rounds to 16), so every array after it sits at another offset from the 64-byte lines
    /// that OpenBLAS's AVX-512 kernels aligned to.
    func randomHeapShift() -> String {
        String(64 * Int.random(in: 1...256) + 16 * Int.random(in: 1...3) - 8)
    }

    /// Both runs succeeded, wrote every file, and the files are byte-identical.
    func assertSameBytes(_ a: Drawn, _ b: Drawn, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.status, 0, "\(what), first run: \(a.stderr.suffix(600))", file: file, line: line)
        XCTAssertEqual(b.status, 0, "\(what), second run: \(b.stderr.suffix(600))", file: file, line: line)
        for (name, data) in a.files.sorted(by: { $0.key < $1.key }) {
            XCTAssertNotNil(data, "\(what): \(name) was not written", file: file, line: line)
            XCTAssertTrue(data == b.files[name], "\(what): \(name) differs between the two processes", file: file, line: line)
        }
    }

    static let svgs = ["combined.svg", "foreground.svg", "background.svg"]

    /// A short run through every phase that adds up gradients across blocks: the subject's
    /// GradNorm over two blocks, the background's sum, and a simplicity level (GradNorm over
    /// the width MLP's terms). Under each kernel set: one process on two threads, another on
    /// one thread with its heap shifted. Without OPENBLAS_CORETYPE the engine says it drew on
    /// the portable set, with the same bytes as asking for it.
    func testEveryKernelSetDrawsTheSameBytesInTwoProcesses() throws {
        let args = ["sketch", bull, "--strokes", "16", "--iterations", "12", "--simplicity", "1", "--simplicity-iterations", "6"]
        var byKernels: [String: Drawn] = [:]
        for set in runnableKernelSets() {
            let first = try draw(args, files: Self.svgs, environment: ["OPENBLAS_CORETYPE": set, "CLIPASCENE_THREADS": "2"])
            let second = try draw(args, files: Self.svgs, environment: ["OPENBLAS_CORETYPE": set, "CLIPASCENE_THREADS": "1",
                                                                        "CLIPASCENE_HEAP_SHIFT": randomHeapShift()])
            XCTAssertTrue(first.stderr.contains("OpenBLAS's \(set) kernels"), "asked for \(set): \(first.stderr.suffix(400))")
            assertSameBytes(first, second, "kernel set \(set), two threads then one with the heap shifted")
            byKernels[set] = first
        }
        let unpinned = try draw(args, files: Self.svgs, environment: ["CLIPASCENE_HEAP_SHIFT": randomHeapShift()])
        XCTAssertTrue(unpinned.stderr.contains("OpenBLAS's Haswell kernels"), "the default kernel set: \(unpinned.stderr.suffix(400))")
        let haswell = try XCTUnwrap(byKernels["Haswell"], "this CPU runs the Haswell kernels (AVX2, FMA)")
        assertSameBytes(unpinned, haswell, "no OPENBLAS_CORETYPE against OPENBLAS_CORETYPE=Haswell")
    }

    /// The bull at the default settings (200 steps per part), twice.
    func testDefaultSettingsDrawTheSameBytesInTwoProcesses() throws {
        let a = try draw(["sketch", bull], files: Self.svgs)
        let b = try draw(["sketch", bull], files: Self.svgs, environment: ["CLIPASCENE_HEAP_SHIFT": randomHeapShift()])
        assertSameBytes(a, b, "the default sketch")
    }

    /// Simplicity 2 at the default schedule: two levels of the width MLP after the fidelity
    /// phase, twice.
    func testSimplicityTwoDrawsTheSameBytesInTwoProcesses() throws {
        let args = ["sketch", bull, "--simplicity", "2"]
        let a = try draw(args, files: Self.svgs)
        let b = try draw(args, files: Self.svgs, environment: ["CLIPASCENE_HEAP_SHIFT": randomHeapShift()])
        assertSameBytes(a, b, "simplicity 2")
    }

    /// A 2 × 2 matrix (fidelity 0 and 1, simplicity 0 and 1) at the matrix's default schedule,
    /// twice: every cell's SVG.
    func testTwoByTwoMatrixDrawsTheSameBytesInTwoProcesses() throws {
        let args = ["matrix", bull, "--fidelities", "0,1", "--simplicities", "0,1"]
        let cells = ["f0_s0.svg", "f0_s1.svg", "f1_s0.svg", "f1_s1.svg"]
        let a = try draw(args, files: cells)
        let b = try draw(args, files: cells, environment: ["CLIPASCENE_HEAP_SHIFT": randomHeapShift()])
        assertSameBytes(a, b, "the 2 × 2 matrix")
    }
}
