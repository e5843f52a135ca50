import Foundation
import XCTest
import Imaging
import TestSupport

final class MatrixCommandTests: XCTestCase {
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
