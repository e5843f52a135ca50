import Foundation
import XCTest
import Imaging
import Models
import Sketching
import TestSupport

/// What the engine does to the targets beyond the reference's split (docs/algorithm.md §1).
final class TargetPreparationTests: XCTestCase {
    /// A light subject on white gets a grey line just outside its silhouette, and nothing else changes.
    func testOutlineSurroundsTheSubject() {
        var mask = GrayImage(width: 12, height: 12, value: 0)
        for y in 4..<8 { for x in 4..<8 { mask[x, y] = 1 } }
        let page = RGBImage(width: 12, height: 12, fill: (0.95, 0.95, 0.95))
        let outlined = TargetPreparation().outlined(page, mask: mask)
        for y in 0..<12 {
            for x in 0..<12 {
                let inside = (4..<8).contains(x) && (4..<8).contains(y)
                let ring = !inside && (3..<9).contains(x) && (3..<9).contains(y)
                XCTAssertEqual(outlined[1, x, y], ring ? 0.3 : 0.95, "(\(x), \(y))")
            }
        }
        var none = TargetPreparation()
        none.subjectOutline = nil
        XCTAssertEqual(none.outlined(page, mask: mask), page)
    }

    /// A night scene's targets are lifted; the reference's targets come back with no preparation.
    func testDarkSceneTargetsAreLifted() throws {
        let encoder = try requireEncoder()
        var photo = RGBImage(width: 64, height: 48)
        for y in 0..<48 { for x in 0..<64 { for c in 0..<3 { photo[c, x, y] = 0.05 + 0.2 * Float((x * 7 + y * 3) % 17) / 16 } } }
        var settings = Abstraction()
        settings.strokes = 4
        func medianOfBackground(_ preparation: TargetPreparation) -> Float {
            let scene = SceneSketch(photo: photo, subjectMask: nil, encoder: encoder, abstraction: settings, canvas: 64,
                                    preparation: preparation)
            return scene.backgroundTarget.gray.pixels.sorted()[scene.backgroundTarget.planeSize / 2]
        }
        XCTAssertEqual(medianOfBackground(TargetPreparation()), 0.5, accuracy: 0.02)
        var reference = TargetPreparation()
        reference.toneBalance = nil
        XCTAssertLessThan(medianOfBackground(reference), 0.2)
    }
}

/// A mask file: white is subject, and transparent is not (issue 24 item 16: read like a photo,
/// on white, a fully transparent mask was all subject).
final class MaskFileTests: XCTestCase {
    func testTransparentPixelsAreNotSubject() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mask-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = RGBImage(width: 8, height: 4)
        func mask(_ name: String, colorType: Int, depth: Int = 8, _ pixel: (Int, Int) -> [Int]) throws -> GrayImage {
            let samples = (0..<4).flatMap { y in (0..<8).flatMap { x in pixel(x, y) } }
            let path = dir.appendingPathComponent(name).path
            try PNGFixture.make(width: 8, height: 4, depth: depth, colorType: colorType, samples: samples).write(to: URL(fileURLWithPath: path))
            return try MaskSource.fileMask(path, for: photo)
        }
        func subject(_ m: GrayImage) -> Int { m.pixels.filter { $0 > 0.5 }.count }
        XCTAssertEqual(subject(try mask("clear.png", colorType: 6) { _, _ in [255, 255, 255, 0] }), 0, "fully transparent white")
        XCTAssertEqual(subject(try mask("clear16.png", colorType: 6, depth: 16) { _, _ in [65535, 65535, 65535, 0] }), 0)
        XCTAssertEqual(subject(try mask("clear-gray.png", colorType: 4) { _, _ in [255, 0] }), 0)
        // A cut-out: opaque white on the left half, transparent on the right.
        let half = try mask("half.png", colorType: 6) { x, _ in x < 4 ? [255, 255, 255, 255] : [255, 255, 255, 0] }
        XCTAssertEqual(subject(half), 16)
        XCTAssertGreaterThan(half[1, 1], 0.5)
        XCTAssertLessThan(half[6, 1], 0.5)
        // Opaque masks read as before: white subject on black.
        XCTAssertEqual(subject(try mask("opaque.png", colorType: 0) { x, _ in [x < 2 ? 255 : 0] }), 8)
    }
}
