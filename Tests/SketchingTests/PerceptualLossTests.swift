import XCTest
import Sketching
import Tensors
import TestSupport

/// The feature loss against a Double implementation of its definition: value, image-0 value
/// and gradient (central differences of the Double loss), for maps smaller and larger than
/// one column block.
final class PerceptualLossTests: XCTestCase {
    struct Shape { let channels, batch, height, width: Int }

    func random(_ shape: Shape, seed: UInt64) -> FeatureMap {
        var rng = SeededRandom(seed)
        let data = rng.centred(shape.channels * shape.batch * shape.height * shape.width)
        return FeatureMap(channels: shape.channels, batch: shape.batch, height: shape.height, width: shape.width, data: data)
    }

    /// (loss, image-0 loss) by the definition, in Double.
    func reference(_ s: [Double], _ t: [Double], channels: Int, cols: Int, plane: Int, weight: Double,
                   normalised: Bool) -> (Double, Double) {
        var loss = 0.0, first = 0.0
        for j in 0..<cols {
            var ns = 0.0, nt = 0.0
            for c in 0..<channels { ns += s[c * cols + j] * s[c * cols + j]; nt += t[c * cols + j] * t[c * cols + j] }
            ns = normalised ? ns.squareRoot() + 1e-10 : 1
            nt = normalised ? nt.squareRoot() + 1e-10 : 1
            for c in 0..<channels {
                let d = s[c * cols + j] / ns - t[c * cols + j] / nt
                loss += d * d
                if j < plane { first += d * d }
            }
        }
        if normalised { return (loss * weight / Double(cols), first * weight / Double(plane)) }
        return (loss * weight / Double(channels * cols), first * weight / Double(channels * plane))
    }

    func testLossAndGradientMatchTheDefinition() {
        for (shape, normalised) in [(Shape(channels: 5, batch: 3, height: 4, width: 7), true),
                                    (Shape(channels: 3, batch: 2, height: 30, width: 30), true),
                                    (Shape(channels: 6, batch: 5, height: 50, width: 1), false)] {
            let s = random(shape, seed: 1), t = random(shape, seed: 2)
            let weight: Float = 0.7
            let (loss, grad, first) = PerceptualLoss.lossAndGradient(sketch: s, target: t, weight: weight, channelNormalised: normalised)
            let cols = s.columns, plane = s.plane
            let sd = s.data.map(Double.init), td = t.data.map(Double.init)
            let (want, wantFirst) = reference(sd, td, channels: s.channels, cols: cols, plane: plane, weight: Double(weight), normalised: normalised)
            XCTAssertEqual(Double(loss), want, accuracy: 1e-5 * want, "loss, \(shape)")
            XCTAssertEqual(Double(first), wantFirst, accuracy: 1e-5 * wantFirst, "image-0 loss, \(shape)")
            var gen = SeededRandom(3)
            for _ in 0..<25 {
                let i = gen.int(0, sd.count - 1)
                let h = 1e-4
                var up = sd, down = sd
                up[i] += h
                down[i] -= h
                let numeric = (reference(up, td, channels: s.channels, cols: cols, plane: plane, weight: Double(weight), normalised: normalised).0
                               - reference(down, td, channels: s.channels, cols: cols, plane: plane, weight: Double(weight), normalised: normalised).0) / (2 * h)
                XCTAssertEqual(Double(grad.data[i]), numeric, accuracy: 1e-3 * max(1e-3, abs(numeric)), "∂/∂f[\(i)], \(shape)")
            }
        }
    }
}
