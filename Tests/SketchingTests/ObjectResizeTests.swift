import Foundation
import XCTest
import Imaging
import Models
import Sketching
import TestSupport

final class ObjectResizeTests: XCTestCase {
    func mask(_ boxes: [(Int, Int, Int, Int)], size: Int = 224) -> GrayImage {
        var m = GrayImage(width: size, height: size, value: 0)
        for (x0, y0, w, h) in boxes { for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { m[x, y] = 1 } } }
        return m
    }

    func testALoneSmallSubjectIsEnlargedAndCentred() throws {
        let resize = try XCTUnwrap(ObjectResize.plan(mask: mask([(20, 100, 40, 30)])))
        XCTAssertTrue(resize.box == (20, 100, 40, 30))
        XCTAssertEqual(max(resize.placed.width, resize.placed.height), Int(0.7 * 224))
        XCTAssertEqual(resize.placed.width, 156)
        XCTAssertEqual(resize.placed.height, 117)   // aspect kept: 30 × 156/40
        // The inverse takes the enlarged subject's centre and corners back to the box's.
        let centre = resize.inverse(SIMD2(Float(resize.placed.x) + 78, Float(resize.placed.y) + 58.5))
        XCTAssertEqual(centre.x, 40, accuracy: 1e-3)
        XCTAssertEqual(centre.y, 115, accuracy: 1e-3)
        let corner = resize.inverse(SIMD2(Float(resize.placed.x), Float(resize.placed.y)))
        XCTAssertEqual(corner.x, 20, accuracy: 1e-3)
        XCTAssertEqual(corner.y, 100, accuracy: 1e-3)

        // Applying it to the subject-on-white image moves the dark subject to the middle, enlarged.
        var image = RGBImage(width: 224, height: 224)
        for c in 0..<3 { for y in 100..<130 { for x in 20..<60 { image[c, x, y] = 0.2 } } }
        let out = resize.apply(to: image)
        var dark = 0
        for y in 0..<224 { for x in 0..<224 where out[0, x, y] < 0.5 { dark += 1 } }
        XCTAssertEqual(Double(dark), 156 * 117, accuracy: 156 * 117 * 0.05)
        XCTAssertLessThan(out[0, 112, 112], 0.5)
        XCTAssertGreaterThan(out[0, 30, 110], 0.5, "the original place is white now")
    }

    func testNoResizeForLargeOrSeveralSubjects() {
        XCTAssertNil(ObjectResize.plan(mask: mask([(10, 10, 170, 100)])), "already large")
        XCTAssertNil(ObjectResize.plan(mask: mask([(10, 10, 30, 30), (150, 150, 30, 30)])), "two similar subjects")
        XCTAssertNil(ObjectResize.plan(mask: GrayImage(width: 64, height: 64, value: 0)), "no subject")
        // A speck under a third of the largest region is ignored.
        let withSpeck = ObjectResize.plan(mask: mask([(10, 10, 30, 30), (150, 150, 5, 5)]))
        XCTAssertNotNil(withSpeck)
        XCTAssertTrue(withSpeck.map { $0.box == (10, 10, 30, 30) } ?? false)
    }

    /// End to end: the foreground strokes are drawn on the enlarged subject and come back
    /// onto the small subject's place in the photo.
    func testForegroundStrokesComeBackOntoTheSubject() throws {
        let encoder = try requireEncoder()
        var photo = RGBImage(width: 224, height: 224, fill: (0.8, 0.85, 0.9))
        for y in 120..<170 { for x in 30..<80 { let d = Float((x - 55) * (x - 55) + (y - 145) * (y - 145)).squareRoot()
            for c in 0..<3 { photo[c, x, y] = d < 22 ? (d < 12 ? 0.1 : 0.5) : 0.8 } } }
        let subject = mask([(30, 120, 50, 50)])
        var settings = Abstraction()
        settings.strokes = 16
        let scene = SceneSketch(photo: photo, subjectMask: subject, encoder: encoder, abstraction: settings)
        let resize = try XCTUnwrap(scene.objectResize)
        XCTAssertTrue(resize.box == (30, 120, 50, 50))
        let points = scene.drawing.foreground.flatMap(\.points)
        // Every stroke is drawn or left out (the inverse shrinks strokes, not their width, so
        // a short one can become a dot).
        XCTAssertEqual(points.count + 4 * scene.drawing.omittedForeground, 16 * 4)
        XCTAssertLessThan(scene.drawing.omittedForeground, 8)
        let inside = points.filter { $0.x > 20 && $0.x < 90 && $0.y > 110 && $0.y < 180 }.count
        XCTAssertGreaterThan(Double(inside) / Double(points.count), 0.9)
    }
}
