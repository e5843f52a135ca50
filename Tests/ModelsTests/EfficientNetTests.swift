import Foundation
import XCTest
import Imaging
import Models
import Tensors
import TestSupport

/// The reference preprocessing of the spec: bicubic 224×224, (x·255 − 127.5) / 128.
func referenceInput(_ image: RGBImage) -> FeatureMap {
    let small = image.resized(width: 224, height: 224)
    let values = small.pixels.map { (min(1, max(0, $0)) * 255 - 127.5) / 128 }
    return FeatureMap(channels: 3, batch: 1, height: 224, width: 224, data: values)
}

final class EfficientNetTests: XCTestCase {
    func testClassifiesTheBullAsAnOx() throws {
        let net = try requireEncoder()
        let bull = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let probs = net.classify(referenceInput(bull))
        let top = probs.indices.max { probs[$0] < probs[$1] }
        XCTAssertEqual(top, 345, "ImageNet class 345 is 'ox'")
        XCTAssertEqual(probs[345], 0.908, accuracy: 0.01)
    }
}

/// Matches features and input gradients from the PyTorch reference
/// (scripts/fixtures/efficientnet_golden.py).
final class EfficientNetGoldenTests: XCTestCase {
    struct Sample: Decodable { let shape: [Int]; let indices: [Int]; let values: [Float]; let sum: Double; let absSum: Double }
    struct Golden: Decodable {
        let batch: Int, height: Int, width: Int
        let features: [String: Sample]
        let inputGradients: [String: Sample]
    }

    func golden() throws -> Golden {
        let url = repoRoot.appendingPathComponent("Tests/Fixtures/efficientnet_golden.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }

    func input(_ g: Golden) -> FeatureMap {
        let (b, h, w) = (g.batch, g.height, g.width)
        var nchw = [Float](repeating: 0, count: b * 3 * h * w)
        for i in nchw.indices {
            let bi = i / (3 * h * w), c = (i / (h * w)) % 3, y = (i / w) % h, x = i % w
            nchw[i] = Float((bi * 53 + c * 31 + y * 17 + x * 13) % 97) / 48.5 - 1
        }
        return FeatureMap(nchw: nchw, batch: b, channels: 3, height: h, width: w)
    }

    func assertMatches(_ nchw: [Float], _ s: Sample, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(nchw.count, s.shape.reduce(1, *), what, file: file, line: line)
        let scale = s.values.map(abs).max() ?? 1
        var worst: Float = 0
        for (i, v) in zip(s.indices, s.values) { worst = max(worst, abs(nchw[i] - v) / scale) }
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(what): max relative error \(worst)", file: file, line: line)
        let sum = nchw.reduce(0.0) { $0 + Double($1) }, absSum = nchw.reduce(0.0) { $0 + Double(abs($1)) }
        XCTAssertEqual(absSum, s.absSum, accuracy: 1e-4 * s.absSum, "\(what): sum |x|", file: file, line: line)
        XCTAssertEqual(sum, s.sum, accuracy: 1e-4 * s.absSum, "\(what): sum x", file: file, line: line)
    }

    func testFeaturesAtThreeDepths() throws {
        let net = try requireEncoder(), g = try golden()
        let trace = net.forward(input(g), through: 11, keepTrace: false)
        for (depth, sample) in g.features {
            guard let d = Int(depth) else { continue }
            assertMatches(trace.features(at: d).nchw(), sample, "features after block \(d)")
        }
        XCTAssertEqual(g.features.count, 3)
    }

    func lossWeights(shape f: FeatureMap) -> FeatureMap {
        let n = f.count
        let r = (0..<n).map { Float(($0 * 7919) % 1000) / 500 - 1 }
        return FeatureMap(nchw: r, batch: f.batch, channels: f.channels, height: f.height, width: f.width)
    }

    func testInputGradientsAtTwoDepths() throws {
        let net = try requireEncoder(), g = try golden()
        for (depth, sample) in g.inputGradients {
            guard let d = Int(depth) else { continue }
            let trace = net.forward(input(g), through: d)
            let grad = net.backward(trace, gradients: [d: lossWeights(shape: trace.features(at: d))])
            assertMatches(grad.nchw(), sample, "input gradient from block \(d)")
        }
        XCTAssertEqual(g.inputGradients.count, 2)
    }

    /// A batch of five (two images per worker, then one spread over the workers) gives
    /// exactly what each image gives alone, forward and backward.
    func testBatchesSplitOverWorkersMatchSingleImages() throws {
        let net = try requireEncoder()
        var x = FeatureMap(zeros: 3, batch: 5, height: 40, width: 36)
        for i in x.data.indices { x.data[i] = Float((i * 53) % 97) / 48.5 - 1 }
        let depth = 4
        let trace = net.forward(x, through: depth)
        let r = lossWeights(shape: trace.features(at: depth))
        let grad = net.backward(trace, gradients: [depth: r, 1: lossWeights(shape: trace.features(at: 1))])
        for n in 0..<5 {
            let one = x.images(n..<(n + 1))
            let t = net.forward(one, through: depth)
            for b in [1, depth] { XCTAssertEqual(t.features(at: b).data, trace.features(at: b).images(n..<(n + 1)).data, "image \(n) block \(b)") }
            let g = net.backward(t, gradients: [depth: r.images(n..<(n + 1)), 1: lossWeights(shape: trace.features(at: 1)).images(n..<(n + 1))])
            XCTAssertEqual(g.data, grad.images(n..<(n + 1)).data, "gradient of image \(n)")
        }
    }

    /// Central differences of Σ r·features(block 2) along random input directions.
    func testInputGradientFiniteDifferences() throws {
        let net = try requireEncoder()
        var x = FeatureMap(zeros: 3, batch: 1, height: 32, width: 32)
        for i in x.data.indices { x.data[i] = Float((i * 37) % 101) / 50 - 1 }
        let depth = 2
        let trace = net.forward(x, through: depth)
        let r = lossWeights(shape: trace.features(at: depth))
        func loss(_ input: FeatureMap) -> Double {
            let f = net.forward(input, through: depth, keepTrace: false).features(at: depth)
            return zip(f.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let grad = net.backward(trace, gradients: [depth: r])
        // Single input values, so each difference crosses few ReLU6 corners.
        let coordinates = [5, 100, 517, 1023, 1500, 2047, 2600, 3071]
        let scale = coordinates.map { abs(Double(grad.data[$0])) }.max() ?? 1
        for i in coordinates {
            let eps: Float = 1e-3
            var plus = x, minus = x
            plus.data[i] += eps
            minus.data[i] -= eps
            let fd = (loss(plus) - loss(minus)) / Double(2 * eps)
            XCTAssertEqual(Double(grad.data[i]), fd, accuracy: 0.03 * scale, "input value \(i)")
        }
    }
}
