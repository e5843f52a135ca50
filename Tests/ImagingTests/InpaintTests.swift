import XCTest
import Imaging

final class InpaintTests: XCTestCase {
    func testFillsAHoleFromItsSurroundings() {
        var img = RGBImage(width: 20, height: 20, fill: (0.2, 0.4, 0.6))
        var hole = GrayImage(width: 20, height: 20)
        for y in 5..<15 { for x in 5..<15 { hole[x, y] = 1; for c in 0..<3 { img[c, x, y] = 1 } } }
        let filled = img.inpainted(hole: hole)
        for y in 5..<15 {
            for x in 5..<15 {
                XCTAssertEqual(filled[0, x, y], 0.2, accuracy: 0.01)
                XCTAssertEqual(filled[2, x, y], 0.6, accuracy: 0.01)
            }
        }
        XCTAssertEqual(filled[1, 0, 0], 0.4, "known pixels are kept")
    }
}
