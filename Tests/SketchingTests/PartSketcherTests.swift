import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import TestSupport

final class PartSketcherTests: XCTestCase {
    /// A short real run on a small image: strokes move, the loss falls, the SVG is valid.
    func testShortRunLowersTheLoss() throws {
        let encoder = try requireEncoder()
        let photo = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let target = photo.resized(width: 96, height: 96).clamped()
        let saliency = Saliency.map(target, encoder: encoder)
        var settings = PartSettings()
        settings.strokes = 16
        settings.learningRate = 1e-3
        settings.layers = LayerWeights([2: 1])
        let part = PartSketcher(target: target, saliency: saliency, encoder: encoder, settings: settings)
        let first = part.step()
        for _ in 0..<30 { part.step() }
        XCTAssertLessThan(part.bestLoss, first, "loss went from \(first) to \(part.bestLoss)")
        let moved = zip(part.currentStrokes, part.initialStrokes).map { a, b in
            zip(a.points, b.points).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.max() ?? 0
        }.max() ?? 0
        XCTAssertGreaterThan(moved, 0.5, "strokes moved")
        let svg = SVGDocument(width: 96, height: 96, strokes: part.bestStrokes).xml()
        XCTAssertEqual(try SVGDocument.parse(svg).strokes.count, 16)
        // Every phase of every step was timed (what `clipascene bench step` prints).
        XCTAssertEqual(part.timings.steps, 31)
        for phase in StepTimings.phases { XCTAssertGreaterThan(part.timings.seconds[phase] ?? 0, 0, phase) }
        XCTAssertEqual(Set(part.timings.seconds.keys), Set(StepTimings.phases))
    }
}
