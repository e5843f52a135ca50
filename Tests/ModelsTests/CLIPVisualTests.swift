import Foundation
import Models
import Tensors
import XCTest
import TestSupport

/// The CLIP image tower against a small CLIP saved in the official TorchScript format with
/// fp16 weights and goldens from PyTorch (scripts/fixtures/clip_golden.py).
final class CLIPVisualTests: XCTestCase {
    struct Gradient: Decodable { let blocks: [Int]; let loss: Double; let l1: Double; let samples: [[Double]] }
    struct Golden: Decodable {
        let width: Int, heads: Int, layers: Int, patch: Int, resolution: Int, batch: Int, tokens: Int
        let features: [String: [Float]]
        let gradients: [Gradient]
        let attention: [[Float]]
    }

    var archive: String { repoRoot.appendingPathComponent("Tests/Fixtures/clip_tiny.pt").path }

    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/clip_tiny_golden.json")))
    }

    func input(_ g: Golden) -> FeatureMap {
        let (b, s) = (g.batch, g.resolution)
        let nchw = (0..<(b * 3 * s * s)).map { i -> Float in
            let bi = i / (3 * s * s), c = (i / (s * s)) % 3, y = (i / s) % s, x = i % s
            return Float((bi * 53 + c * 31 + y * 17 + x * 13) % 97) / 48.5 - 1
        }
        return FeatureMap(nchw: nchw, batch: b, channels: 3, height: s, width: s)
    }

    /// The loss the fixture differentiates: Σ_g Σ_i features_g[i] · r_g[i].
    func weights(block g: Int, count: Int) -> [Float] {
        (0..<count).map { i in Float((i * 7919 + g * 131) % 1000) / 500 - 1 }
    }

    func testReadsTheTorchScriptArchiveWithHalfWeights() throws {
        let ck = try TorchCheckpoint(path: archive)
        XCTAssertEqual(ck["visual.conv1.weight"]?.shape, [32, 3, 16, 16])
        XCTAssertEqual(ck["visual.transformer.resblocks.2.attn.in_proj_weight"]?.shape, [96, 32])
        XCTAssertNotNil(ck["logit_scale"])
        // fp16 storage: every value is exactly representable in half precision.
        let w = try XCTUnwrap(ck["visual.transformer.resblocks.0.mlp.c_fc.weight"])
        XCTAssertTrue(w.data.allSatisfy { Float(Float16($0)) == $0 })
        XCTAssertTrue(w.data.contains { $0 != 0 })
        let tower = try CLIPVisual(checkpoint: ck, heads: 2)
        XCTAssertEqual([tower.width, tower.heads, tower.layers, tower.patch, tower.grid, tower.tokens], [32, 2, 3, 16, 4, 17])
    }

    func testFeaturesAndAttentionMatchPyTorch() throws {
        let g = try golden()
        let tower = try CLIPVisual(path: archive, heads: g.heads)
        let trace = tower.forward(input(g), through: g.layers - 1, keepTrace: false, keepAttention: true)
        for (key, want) in g.features {
            let block = try XCTUnwrap(Int(key))
            let got = trace.features[block]
            XCTAssertEqual(got.count, want.count)
            let scale = want.map(abs).max() ?? 1
            let worst = zip(got, want).map { abs($0 - $1) / scale }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-4, "block \(block): max relative error \(worst)")
        }
        let t = g.tokens
        for (block, want) in g.attention.enumerated() {
            let got = Array(trace.attention[block].prefix(t * t))   // image 0
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5, "attention of block \(block)")
        }
    }

    func testInputGradientsMatchPyTorch() throws {
        let g = try golden()
        let tower = try CLIPVisual(path: archive, heads: g.heads)
        let x = input(g)
        for expected in g.gradients {
            let trace = tower.forward(x, through: expected.blocks.max() ?? 0)
            var gradients: [Int: [Float]] = [:]
            var loss = 0.0
            for b in expected.blocks {
                let f = trace.features[b], r = weights(block: b, count: f.count)
                gradients[b] = r
                loss += zip(f, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            XCTAssertEqual(loss, expected.loss, accuracy: 1e-4 * max(1, abs(expected.loss)), "loss for blocks \(expected.blocks)")
            let dx = tower.backward(trace, gradients: gradients).nchw()
            let l1 = dx.reduce(0.0) { $0 + Double(abs($1)) }
            XCTAssertEqual(l1, expected.l1, accuracy: 1e-4 * expected.l1, "L1 of the gradient for blocks \(expected.blocks)")
            let scale = expected.samples.map { abs($0[1]) }.max() ?? 1
            for s in expected.samples {
                let i = Int(s[0])
                XCTAssertEqual(Double(dx[i]), s[1], accuracy: 1e-4 * scale, "gradient[\(i)] for blocks \(expected.blocks)")
            }
        }
    }

    func testInputGradientFiniteDifferences() throws {
        let g = try golden()
        let tower = try CLIPVisual(path: archive, heads: g.heads)
        let x = input(g)
        let block = 2
        func loss(_ m: FeatureMap) -> Double {
            let f = tower.forward(m, through: block, keepTrace: false).features[block]
            return zip(f, weights(block: block, count: f.count)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let trace = tower.forward(x, through: block)
        let dx = tower.backward(trace, gradients: [block: weights(block: block, count: trace.features[block].count)])
        for i in stride(from: 5, to: x.count, by: x.count / 7) {
            var plus = x, minus = x
            plus.data[i] += 1e-2; minus.data[i] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            XCTAssertEqual(Double(dx.data[i]), numeric, accuracy: 2e-2 * max(1, abs(numeric)), "input \(i)")
        }
    }

    func testAWeightFileWithoutAnImageTowerIsRefusedClearly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let efficientNet = try CheckpointStore.locate().verifiedPath(of: "efficientnet-lite0")
        XCTAssertThrowsError(try CLIPVisual(path: efficientNet)) { error in
            XCTAssertTrue("\(error)".contains("conv1.weight"), "\(error)")
        }
        let truncated = dir.appendingPathComponent("cut.pt")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        XCTAssertThrowsError(try CLIPVisual(path: truncated.path)) { error in
            XCTAssertTrue("\(error)".contains(truncated.path), "\(error)")
        }
    }
}
