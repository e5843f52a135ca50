import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import TestSupport

final class SceneSketchTests: XCTestCase {
    /// The whole pipeline on a small canvas: mask, targets, both parts, combined SVG readable by
    /// us and with the background hidden under the subject.
    func testSceneSplitsAndCombines() throws {
        let encoder = try requireEncoder()
        let photo = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let mask = try ImageFile.decode(path: repoRoot.appendingPathComponent("Tests/Fixtures/bull_mask_u2netp.png").path)
        let subject = GrayImage(width: mask.width, height: mask.height, pixels: Array(mask.pixels[0..<(mask.width * mask.height)]))
        var settings = Abstraction()
        settings.strokes = 12
        settings.augmentations = 1
        let scene = SceneSketch(photo: photo, subjectMask: subject, encoder: encoder, abstraction: settings, canvas: 64)
        XCTAssertEqual(scene.canvasWidth, 64)
        XCTAssertNotNil(scene.foreground)
        XCTAssertGreaterThan(scene.subject.coverage, 0.2)
        // Foreground target is white outside the subject (its silhouette outlined in grey,
        // docs/algorithm.md §1); the background target has no white hole.
        let plane = 64 * 64
        let ring = scene.subject.dilated(radius: 1)
        for i in 0..<plane where scene.subject.pixels[i] < 0.5 {
            XCTAssertEqual(scene.foregroundTarget.pixels[i], ring.pixels[i] >= 0.5 ? 0.3 : 1)
        }
        let holeMean = (0..<plane).filter { scene.subject.pixels[$0] >= 0.5 }.map { scene.backgroundTarget.pixels[$0] }
        XCTAssertLessThan(holeMean.reduce(0, +) / Float(holeMean.count), 0.95, "the hole is filled, not left white")
        for part in scene.parts { part.step(count: 3) }
        let combined = try scene.drawing.combinedSVG()
        let xml = combined.xml()
        XCTAssertTrue(xml.contains("mask=\"url(#outside-subject)\""))
        XCTAssertTrue(xml.contains("data:image/png;base64,"))
        // Every stroke is drawn or counted as left out (short ones on this small canvas are dots).
        XCTAssertEqual(try SVGDocument.parse(xml).strokes.count + scene.drawing.omittedStrokes, 24)
        let preview = scene.drawing.preview(scale: 2)
        XCTAssertEqual(preview.width, 128)
    }

    /// A blank photo has no subject and no edges: the engine still starts (all background).
    func testBlankPhotoFallsBack() throws {
        let encoder = try requireEncoder()
        let blank = RGBImage(width: 40, height: 30, fill: (1, 1, 1))
        var settings = Abstraction()
        settings.strokes = 8
        settings.augmentations = 0
        let scene = SceneSketch(photo: blank, subjectMask: GrayImage(width: 40, height: 30), encoder: encoder,
                                abstraction: settings, canvas: 48)
        XCTAssertNil(scene.foreground)
        XCTAssertEqual(scene.canvasWidth, 48)
        XCTAssertEqual(scene.canvasHeight, 36, "aspect ratio kept")
        XCTAssertEqual(scene.background.initialStrokes.count, 8)
        scene.background.step()
        XCTAssertTrue(scene.background.bestStrokes.allSatisfy(\.isFinite))
    }
}
