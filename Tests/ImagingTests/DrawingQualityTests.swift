import XCTest
import Imaging
import Tensors

final class DrawingQualityTests: XCTestCase {
    func testDistanceTransformIsExact() {
        var rng = SeededRandom(7)
        func random() -> Double { Double(rng.uniform()) }
        let w = 23, h = 17
        let mask = (0..<(w * h)).map { _ in random() < 0.05 }
        let d = DrawingQuality.distanceTransform(mask, width: w, height: h)
        for y in 0..<h {
            for x in 0..<w {
                var best = Double.infinity
                for j in 0..<h { for i in 0..<w where mask[j * w + i] {
                    best = min(best, Double((i - x) * (i - x) + (j - y) * (j - y)).squareRoot())
                } }
                XCTAssertEqual(d[y * w + x], best, accuracy: 1e-9, "(\(x), \(y))")
            }
        }
        XCTAssertTrue(DrawingQuality.distanceTransform([false, false], width: 2, height: 1).allSatisfy(\.isInfinite))
    }

    /// A photo with one vertical boundary; a line on it scores near 0 px, one 10 px away ~10 px.
    func testPrecisionAndRecallOfLines() {
        let w = 64, h = 48
        let photo = GrayImage(width: w, height: h, pixels: (0..<(w * h)).map { ($0 % w) < 32 ? 0.1 : 0.9 })
        func sketch(lineAt column: Int) -> GrayImage {
            GrayImage(width: w, height: h, pixels: (0..<(w * h)).map { ($0 % w) == column ? 0 : 1 })
        }
        let on = DrawingQuality(sketch: sketch(lineAt: 31), photo: photo)
        XCTAssertLessThanOrEqual(on.precision, 1)
        XCTAssertLessThanOrEqual(on.recall, 2.5)  // the edge band is ~6 columns wide (10 % of 64)
        XCTAssertEqual(on.ink, 1.0 / Double(w), accuracy: 1e-9)
        let off = DrawingQuality(sketch: sketch(lineAt: 42), photo: photo)
        XCTAssertGreaterThan(off.precision, 5)
        XCTAssertLessThan(off.precision, 12)
        XCTAssertGreaterThan(off.recall, 5)
        let blank = DrawingQuality(sketch: GrayImage(width: w, height: h, value: 1), photo: photo)
        XCTAssertTrue(blank.precision.isNaN)
        XCTAssertEqual(blank.ink, 0)
    }
}
