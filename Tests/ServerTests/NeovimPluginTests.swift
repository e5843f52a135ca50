import Foundation
import XCTest
import TestSupport

/// editors/nvim driven by a real headless Neovim (Debian's 0.7.2 or newer, installed by
/// scripts/setup --test) against the real server: sketch a file with progress, write the SVG,
/// cancel a step, and a fidelity change that supersedes a running step (editors/nvim/test/run.lua).
final class NeovimPluginTests: XCTestCase {
    func testPluginSketchesWritesCancelsAndSupersedes() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nvim-\(UUID())")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let nvim = Process()
        nvim.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        nvim.arguments = ["nvim", "--headless", "-u", "NONE", "--cmd", "set rtp^=editors/nvim",
                          "-c", "runtime plugin/clipascene.lua", "-c", "luafile editors/nvim/test/run.lua"]
        nvim.currentDirectoryURL = repoRoot
        var env = ProcessInfo.processInfo.environment
        env["CLIPASCENE_BIN"] = try clipasceneBinary()
        env["CLIPASCENE_NVIM_IMAGE"] = bullPath
        env["CLIPASCENE_NVIM_OUT"] = out.path
        nvim.environment = env
        nvim.standardOutput = FileHandle.nullDevice
        nvim.standardError = FileHandle.nullDevice
        nvim.standardInput = FileHandle.nullDevice
        try nvim.run()
        let deadline = Date().addingTimeInterval(300)
        while nvim.isRunning && Date() < deadline { usleep(100_000) }
        if nvim.isRunning { nvim.terminate(); XCTFail("nvim did not finish within 300 s") }
        nvim.waitUntilExit()
        let report = (try? String(contentsOf: out.appendingPathComponent("result.json"), encoding: .utf8)) ?? "(no result.json)"
        XCTAssertEqual(nvim.terminationStatus, 0, report)
        XCTAssertTrue(report.contains("\"ok\": true") || report.contains("\"ok\":true"), report)
    }
}
