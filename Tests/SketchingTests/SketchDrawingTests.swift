import Foundation
import XCTest
import Imaging
import Sketching
import Vector

/// What the drawing leaves out: strokes collapsed to dots and strokes with no ink on the page.
final class SketchDrawingTests: XCTestCase {
    func line(_ x: Float, _ y: Float, length: Float, halfWidth: Float = 1.5) -> Stroke {
        Stroke(points: (0..<4).map { SIMD2(x + length * Float($0) / 3, y) }, halfWidth: halfWidth)
    }

    func testDotsAndOffPageStrokesAreLeftOutAndCounted() throws {
        let kept = line(10, 10, length: 20)
        let justLongEnough = line(40, 40, length: 3.01)      // polygon 3.01 > width 3
        let dot = line(50, 50, length: 2.9)                   // polygon 2.9 < width 3
        let collapsed = Stroke(points: [SIMD2<Float>](repeating: SIMD2(30, 30), count: 4), halfWidth: 1.5)
        let offPage = line(-60, 20, length: 40)               // ends 18.5 px left of the page
        let grazing = line(-41, 20, length: 40)               // its round cap reaches x = 0.5
        let drawing = SketchDrawing(width: 64, height: 64, subject: nil, foreground: [kept, dot, offPage],
                                    background: [justLongEnough, collapsed, grazing])
        XCTAssertEqual(drawing.foreground, [kept])
        XCTAssertEqual(drawing.background, [justLongEnough, grazing])
        XCTAssertEqual(drawing.omittedForeground, 2)
        XCTAssertEqual(drawing.omittedBackground, 1)
        XCTAssertEqual(drawing.omittedStrokes, 3)

        // The SVG says how many each group lost, in the engine's namespace; a reader gets it back.
        let xml = try drawing.combinedSVG().xml()
        XCTAssertTrue(xml.contains("xmlns:clipascene=\"\(SVGDocument.engineNamespace)\""))
        XCTAssertTrue(xml.contains("<g id=\"background\" clipascene:omitted-strokes=\"1\">"))
        XCTAssertTrue(xml.contains("<g id=\"foreground\" clipascene:omitted-strokes=\"2\">"))
        let read = try SVGDocument.parse(xml)
        XCTAssertEqual(read.groups.map(\.omittedStrokes), [1, 2])
        XCTAssertEqual(read.strokes.count, 3)
        XCTAssertEqual(try SVGDocument.parse(drawing.foregroundSVG().xml()).groups.map(\.omittedStrokes), [2])
    }

    /// A drawing that lost nothing writes no engine attribute (the plain SVG of before).
    func testNothingLeftOutWritesNoAttribute() throws {
        let drawing = SketchDrawing(width: 32, height: 32, subject: nil, foreground: [], background: [line(2, 2, length: 20)])
        XCTAssertEqual(drawing.omittedStrokes, 0)
        let xml = try drawing.combinedSVG().xml()
        XCTAssertFalse(xml.contains("clipascene"))
        XCTAssertEqual(try SVGDocument.parse(xml).strokes.count, 1)
    }
}
