import Foundation
import XCTest
import Server

/// A manifest line that cannot be an item says what is wrong with it.
final class BatchManifestTests: XCTestCase {
    func testEachBadLineSaysWhatIsWrong() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let text = [deep, "[1, 2]", "\"photo.jpg\"", "{\"image\": ", "{\"image\": \"a.png\"}"].joined(separator: "\n")
        let items = BatchItem.parse(manifest: text, base: URL(fileURLWithPath: "/nonexistent"))
        XCTAssertEqual(items.count, 5)
        let problems = items.map { $0.problem ?? "" }
        // Issue 24 item 16: a 100,000-deep line said "is not a JSON object".
        XCTAssertTrue(problems[0].contains("line 1 is not valid JSON") && problems[0].contains("deeper than 256"), problems[0])
        XCTAssertTrue(problems[1].contains("line 2 is an array, not a JSON object"), problems[1])
        XCTAssertTrue(problems[2].contains("line 3 is a string, not a JSON object"), problems[2])
        XCTAssertTrue(problems[3].contains("line 4 is not valid JSON") && problems[3].contains("end of input"), problems[3])
        XCTAssertFalse(problems[4].contains("JSON"), problems[4])
    }
}
