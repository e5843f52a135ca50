import Foundation
import XCTest
import Imaging

final class ResizeTests: XCTestCase {
    struct Golden: Decodable {
        struct Source: Decodable { let width: Int; let height: Int }
        struct Case: Decodable { let width: Int; let height: Int; let filter: String; let pixels: [Float] }
        let source: Source
        let cases: [Case]
    }

    /// Matches Pillow's antialiased bicubic and bilinear resize (fixture from scripts/fixtures/resize_golden.py).
    func testMatchesPillow() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/resize_golden.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        let w = golden.source.width, h = golden.source.height
        var src = GrayImage(width: w, height: h)
        for y in 0..<h { for x in 0..<w { src[x, y] = Float((x * 37 + y * 91 + x * y * 13) % 101) / 100 } }
        XCTAssertEqual(golden.cases.count, 8)
        for c in golden.cases {
            let filter: ResampleFilter = c.filter == "bicubic" ? .bicubic : .bilinear
            let out = src.resized(width: c.width, height: c.height, filter: filter)
            let err = zip(out.pixels, c.pixels).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(err, 1e-5, "\(c.filter) \(c.width)×\(c.height)")
            // The RGB path uses the same kernels on each plane.
            let rgb = src.rgb.resized(width: c.width, height: c.height, filter: filter)
            XCTAssertEqual(Array(rgb.pixels[(2 * c.width * c.height)...]), out.pixels)
        }
    }

    func testShrinkingAntialiases() {
        // A one-pixel checkerboard shrunk 8× becomes flat gray, not a moiré.
        var src = GrayImage(width: 64, height: 64)
        for y in 0..<64 { for x in 0..<64 { src[x, y] = Float((x + y) % 2) } }
        let out = src.rgb.resized(width: 8, height: 8)
        for v in out.pixels { XCTAssertEqual(v, 0.5, accuracy: 0.02) }
    }

    func testConstantStaysConstant() {
        let src = RGBImage(width: 33, height: 17, fill: (0.2, 0.4, 0.9))
        for (w, h) in [(7, 5), (100, 3), (33, 40)] {
            let out = src.resized(width: w, height: h)
            XCTAssertEqual(out.width, w)
            XCTAssertEqual(out.height, h)
            for i in 0..<(w * h) {
                XCTAssertEqual(out.pixels[i], 0.2, accuracy: 1e-5)
                XCTAssertEqual(out.pixels[w * h + i], 0.4, accuracy: 1e-5)
                XCTAssertEqual(out.pixels[2 * w * h + i], 0.9, accuracy: 1e-5)
            }
        }
    }
}
