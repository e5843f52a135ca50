import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import Tensors
import TestSupport

/// Whole optimisation steps of one part against PyTorch, in llm.c's manner: the fixture
/// script (scripts/fixtures/step_golden.py, developer machine only) writes the engine's step
/// again with autograd on a tiny configuration (three strokes, the tiny CLIP tower, two
/// fixed warps, fixed noise) and records the losses, both networks' gradients and their
/// parameters after the Adam update. Every phase of a step takes part: render, views,
/// framing, encoder, loss, backward, GradNorm, the simplicity axis's balance, Adam.
final class WholeStepGoldenTests: XCTestCase {
    struct Golden: Decodable {
        let canvas: [Int]
        let layers: [String: Float]
        let halfWidth, learningRate, widthLearningRate, gumbelTemperature: Float
        let strokes: [[[Float]]]
        let warps: [WarpSpec]
        let fidelityGradNorm, fidelitySum, simplicity: StepRecord
    }
    struct WarpSpec: Decodable { let corners: [[Float]]; let crop: [Float] }
    struct StepRecord: Decodable {
        let totalLoss, cleanLoss: Double
        let blockLosses: [Double]
        let points: Network
        let widths: Network?
        let noise: [Float]?
        let ratio: Float?
        let widthLoss, keepProbability: Double?
    }
    /// Sampled (index, value) pairs of the gradient and of the parameters after the update.
    struct Network: Decodable {
        let count: Int
        let gradientL1: Double
        let gradient, after: [[Double]]
    }

    static let hidden = 1000

    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/step_golden.json")))
    }

    /// The script's parameter formula: a ((i·7919 + l·131 + salt) mod 2001 − 1000) / 1000 / √fan-in.
    static func parameters(sizes: [Int], salt: Int, scale: Double) -> [Float] {
        var p: [Float] = []
        for l in 0..<(sizes.count - 1) {
            let n = sizes[l] * sizes[l + 1] + sizes[l + 1], root = Double(sizes[l]).squareRoot()
            for i in 0..<n { p.append(Float(scale * (Double((i * 7919 + l * 131 + salt) % 2001 - 1000) / 1000) / root)) }
        }
        return p
    }

    func part(_ g: Golden, gradNorm: Bool) throws -> PartSketcher {
        let (w, h) = (g.canvas[0], g.canvas[1])
        var target = RGBImage(width: w, height: h)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w { target.pixels[(c * h + y) * w + x] = Float((c * 31 + y * 17 + x * 13) % 97) / 96 } } }
        var settings = PartSettings()
        settings.strokes = g.strokes.count
        settings.halfWidth = g.halfWidth
        settings.layers = LayerWeights(Dictionary(uniqueKeysWithValues: g.layers.compactMap { k, v in Int(k).map { ($0, v) } }))
        settings.learningRate = g.learningRate
        settings.widthLearningRate = g.widthLearningRate
        settings.gumbelTemperature = g.gumbelTemperature
        settings.augmentations = g.warps.count
        settings.gradNorm = gradNorm
        let strokes = g.strokes.map { Stroke(points: $0.map { SIMD2($0[0], $0[1]) }, halfWidth: g.halfWidth) }
        let clip = try CLIPVisual(path: repoRoot.appendingPathComponent("Tests/Fixtures/clip_tiny.pt").path, heads: 2)
        let part = PartSketcher(target: target, encoder: clip, settings: settings, initialStrokes: strokes, random: SeededRandom(1))
        let n = strokes.count * 8
        part.setParameters(points: Self.parameters(sizes: [n, Self.hidden, Self.hidden, n], salt: 0, scale: 1))
        return part
    }

    func warps(_ g: Golden) -> [Warp] {
        g.warps.map { Warp(width: g.canvas[0], height: g.canvas[1], corners: $0.corners.map { SIMD2($0[0], $0[1]) },
                           cropOrigin: SIMD2($0.crop[0], $0.crop[1])) }
    }

    func assertClose(_ a: Float?, _ b: Double?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b else { return XCTFail("\(what) missing", file: file, line: line) }
        XCTAssertLessThanOrEqual(abs(Double(a) - b), 1e-4 * max(1, abs(b)), "\(what): \(a) vs \(b)", file: file, line: line)
    }

    /// The gradient (from Adam's first moment after its first step: m = (1 − β₁) g) and the
    /// parameters after the update, at the sampled indices.
    func assertNetwork(_ network: (mlp: MLP, optimiser: Adam)?, _ golden: Network?, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let network, let golden else { return XCTFail("\(what) missing", file: file, line: line) }
        let adam = network.optimiser
        XCTAssertEqual(adam.step, 1, file: file, line: line)
        XCTAssertEqual(network.mlp.parameters.count, golden.count, file: file, line: line)
        let gradient = adam.m.map { Double($0) / Double(1 - adam.beta1) }
        let l1 = gradient.reduce(0) { $0 + abs($1) }
        XCTAssertLessThanOrEqual(abs(l1 - golden.gradientL1), 1e-4 * golden.gradientL1, "\(what) gradient L1 \(l1) vs \(golden.gradientL1)",
                                 file: file, line: line)
        let scale = golden.gradient.map { abs($0[1]) }.max() ?? 1
        var worst = 0.0, worstUpdate = 0.0
        for (sample, after) in zip(golden.gradient, golden.after) {
            let i = Int(sample[0])
            worst = max(worst, abs(gradient[i] - sample[1]) / scale)
            // Adam's first step moves a parameter by lr · g / (|g| + ε): its sign for all but the
            // smallest gradients, so the update is compared where the gradient is clear of noise.
            if abs(sample[1]) > 1e-3 * scale {
                worstUpdate = max(worstUpdate, abs(Double(network.mlp.parameters[i]) - after[1]) / Double(adam.learningRate))
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(what) gradient, worst difference over the largest sample", file: file, line: line)
        XCTAssertLessThanOrEqual(worstUpdate, 1e-3, "\(what) update, worst difference in learning rates", file: file, line: line)
    }

    func assertLosses(_ part: PartSketcher, _ r: StepRecord, file: StaticString = #filePath, line: UInt = #line) {
        assertClose(part.lastLoss, r.cleanLoss, "clean loss", file: file, line: line)
        assertClose(part.lastTotalLoss, r.totalLoss, "total loss", file: file, line: line)
        XCTAssertEqual(part.lastBlockLosses.count, r.blockLosses.count, file: file, line: line)
        for (a, b) in zip(part.lastBlockLosses, r.blockLosses) { assertClose(a, b, "block loss", file: file, line: line) }
    }

    func testAFidelityStepBalancedByGradNormMatchesPyTorch() throws {
        let g = try golden()
        let part = try part(g, gradNorm: true)
        part.step(with: StepRandomness(noise: [], warps: warps(g)))
        assertLosses(part, g.fidelityGradNorm)
        assertNetwork(part.pointsNetwork, g.fidelityGradNorm.points, "points")
    }

    func testAFidelityStepSummingTheBlocksMatchesPyTorch() throws {
        let g = try golden()
        let part = try part(g, gradNorm: false)
        part.step(with: StepRandomness(noise: [], warps: warps(g)))
        assertLosses(part, g.fidelitySum)
        assertNetwork(part.pointsNetwork, g.fidelitySum.points, "points")
    }

    func testASimplicityStepMatchesPyTorch() throws {
        let g = try golden()
        let r = g.simplicity
        let part = try part(g, gradNorm: true)
        part.beginSimplicity(ratio: try XCTUnwrap(r.ratio))
        let n = g.strokes.count
        part.setParameters(points: part.pointsNetwork.mlp.parameters,
                           widths: Self.parameters(sizes: [n, Self.hidden, Self.hidden, n], salt: 577, scale: 0.25))
        part.step(with: StepRandomness(noise: try XCTUnwrap(r.noise), warps: warps(g)))
        assertLosses(part, r)
        assertClose(part.widthLoss, r.widthLoss, "width loss")
        assertClose(part.meanKeepProbability, r.keepProbability, "keep probability")
        assertNetwork(part.pointsNetwork, r.points, "points")
        assertNetwork(part.widthNetwork, r.widths, "widths")
    }
}
