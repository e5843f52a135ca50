import Foundation
import XCTest
import TestSupport

/// `make install` (its copying step) gives an engine that runs from anywhere with its weights, and that the
/// pip-installed Python client finds on PATH; without it the client says what to run
/// (issue 24, item 6: `Client()` raised a bare FileNotFoundError after `pip install`).
final class InstallTests: XCTestCase {
    func run(_ executable: String, _ arguments: [String], cwd: String, environment: [String: String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        p.environment = environment
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? FileManager.default.removeItem(at: log) }
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    func testMakeInstallGivesAnEngineThePipClientFinds() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let prefix = scratch + "/prefix", elsewhere = scratch + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        for key in ["CLIPASCENE_BIN", "CLIPASCENE_CHECKPOINTS", "PYTHONPATH"] { env[key] = nil }
        // `make install` is setup, build, then this (a nested build would wait on `swift test`'s lock).
        let make = try run("/usr/bin/env", ["make", "install-files", "PREFIX=\(prefix)"], cwd: repoRoot.path, environment: env)
        XCTAssertEqual(make.status, 0, make.output)
        XCTAssertTrue(make.output.contains("Add \(prefix)/bin to PATH"), make.output)
        // The installed engine sketches from another folder, with the installed weights.
        let bull = repoRoot.appendingPathComponent("examples/bull.jpg").path
        let sketch = try run(prefix + "/bin/clipascene", ["sketch", bull, "--strokes", "4", "--iterations", "2", "--out", elsewhere + "/out"],
                             cwd: elsewhere, environment: env)
        XCTAssertEqual(sketch.status, 0, sketch.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: elsewhere + "/out/combined.svg"))
        // The client as pip installs it, outside the repository (built from a copy: building in
        // place would leave build/ and *.egg-info in the repository).
        let site = scratch + "/site", source = scratch + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for name in ["pyproject.toml", "README.md", "clipascene_client"] {
            try FileManager.default.copyItem(atPath: repoRoot.appendingPathComponent("protocol/python/\(name)").path, toPath: source + "/" + name)
        }
        try? FileManager.default.removeItem(atPath: source + "/clipascene_client/__pycache__")
        let pip = try run("/usr/bin/env", ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                           "--target", site, source], cwd: elsewhere, environment: env)
        XCTAssertEqual(pip.status, 0, pip.output)
        let script = "from clipascene_client import Client\ntry:\n    c = Client()\nexcept FileNotFoundError as e:\n    print('missing:', e)\nelse:\n    print('exit', c.close())\n"
        var withPath = env
        withPath["PYTHONPATH"] = site
        withPath["PATH"] = prefix + "/bin:" + (env["PATH"] ?? "/usr/bin:/bin")
        let found = try run("/usr/bin/env", ["python3", "-c", script], cwd: elsewhere, environment: withPath)
        XCTAssertTrue(found.output.contains("exit 0"), found.output)
        var withoutPath = withPath
        withoutPath["PATH"] = (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":").filter { !$0.hasPrefix(prefix) }.joined(separator: ":")
        let missing = try run("/usr/bin/env", ["python3", "-c", script], cwd: elsewhere, environment: withoutPath)
        XCTAssertTrue(missing.output.contains("missing:") && missing.output.contains("make install"), missing.output)
    }
}
