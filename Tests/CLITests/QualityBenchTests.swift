import Foundation
import XCTest
import Imaging
import TestSupport

final class QualityBenchTests: XCTestCase {
    /// bench quality on a small generated photo: the table, the JSON record and the sheet.
    func testQualityBenchWritesItsTableAndSheet() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quality-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = try writeBoxPhoto(in: dir)
        let r = try runCLI(["bench", "quality", photo, "--iterations", "2", "--out", dir.appendingPathComponent("q").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("| photo | precision px | recall px | ink | dots | left out | s |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| box.png |"), r.stdout)
        for file in ["quality.md", "quality.json", "quality.png", "box/combined.svg", "box/combined.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("q/\(file)").path), file)
        }
    }
}
