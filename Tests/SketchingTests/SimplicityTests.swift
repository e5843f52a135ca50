import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import TestSupport

final class SimplicityTests: XCTestCase {
    func makePart(seed: UInt64) throws -> PartSketcher {
        let encoder = try requireEncoder()
        let photo = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let target = photo.resized(width: 64, height: 64).clamped()
        var settings = PartSettings()
        settings.strokes = 16
        settings.augmentations = 1
        settings.layers = LayerWeights([2: 1])
        settings.seed = seed
        settings.widthLearningRate = 1e-3
        return PartSketcher(target: target, saliency: Saliency.map(target, encoder: encoder), encoder: encoder, settings: settings)
    }

    /// A small ratio drives keep-probabilities down; the output is the same for the same seed.
    func testWidthMLPDropsStrokesDeterministically() throws {
        let a = try makePart(seed: 3), b = try makePart(seed: 3)
        for part in [a, b] {
            part.step(count: 3)
            XCTAssertEqual(part.outputStrokes.count, 16, "before simplification every stroke is output")
            part.beginSimplicity(ratio: part.firstRatio * 0.05)
        }
        let before = a.keepProbabilities.reduce(0, +)
        a.step(count: 25)
        b.step(count: 25)
        let after = a.keepProbabilities.reduce(0, +)
        XCTAssertLessThan(after, before, "keep-probabilities fell from \(before) to \(after)")
        XCTAssertEqual(a.outputStrokes, b.outputStrokes, "same seed, same drawing")
        XCTAssertLessThan(a.outputStrokes.count, 16, "a low ratio leaves strokes out")
        for s in a.outputStrokes {
            XCTAssertGreaterThan(s.halfWidth, 0.7 * 1.5 - 1e-4, "kept strokes have draw > 0.7")
            XCTAssertLessThanOrEqual(s.halfWidth, 1.5 + 1e-4)
        }
    }
}
