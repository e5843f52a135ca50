import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let sharedEncoder: EfficientNetLite0? = try? EfficientNetLite0(
    path: repoRoot.appendingPathComponent("checkpoint/efficientnet-lite0/efficientnet-lite0-57934424.pth").path)

final class PartSketcherTests: XCTestCase {
    /// A short real run on a small image: strokes move, the loss falls, the SVG is valid.
    func testShortRunLowersTheLoss() throws {
        guard let encoder = sharedEncoder else { throw XCTSkip("run checkpoint/fetch (make test does)") }
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

final class SimplicityTests: XCTestCase {
    func makePart(seed: UInt64) throws -> PartSketcher {
        guard let encoder = sharedEncoder else { throw XCTSkip("run checkpoint/fetch (make test does)") }
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
