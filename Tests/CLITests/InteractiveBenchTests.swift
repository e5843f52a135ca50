import Foundation
import XCTest
import Imaging
import TestSupport

final class InteractiveBenchTests: XCTestCase {
    /// bench interactive on a small generated photo, with the same binary as its own baseline:
    /// every figure of the table for both, the ratio column, and each against its budget.
    func testInteractiveBenchPrintsEveryFigureForBothBinaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interactive-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = try writeBoxPhoto(in: dir)
        let r = try runCLI(["bench", "interactive", photo, "--iterations", "2", "--simplicity-iterations", "1", "--idle", "0",
                            "--baseline", try clipasceneBinary()])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("| ") }
        XCTAssertEqual(rows.first, "| figure | budget | this build | baseline | ratio | meets budget |", r.stdout)
        for label in ["loadImage → first getSVG with strokes", "whole default schedule", "fidelity 0 → 2", "simplicity 0 → 2",
                      "after looking for 0 s: fidelity +1", "then simplicity +1", "peak memory of the server"] {
            let row = rows.first { $0.contains(label) }
            XCTAssertNotNil(row, "no row for \(label):\n\(r.stdout)")
            // figure, budget, two values, ratio, verdict.
            XCTAssertEqual(row.map { $0.split(separator: "|").count }, 6, "\(label): \(row ?? "")")
            XCTAssertTrue(row.map { $0.hasSuffix("| yes |") || $0.hasSuffix("| **no** |") } ?? false, "\(label): \(row ?? "")")
        }
        XCTAssertTrue(r.stderr.contains("round 1 of 1, baseline"), r.stderr)

        let missing = try runCLI(["bench", "interactive", photo, "--baseline", dir.appendingPathComponent("nothing").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("is not an executable file"), missing.stderr)
    }
}
