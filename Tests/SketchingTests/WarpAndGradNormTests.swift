import XCTest
import Sketching

/// The augmentation warp and GradNorm's weights, each on its own.
final class WarpTests: XCTestCase {
    let (w, h) = (23, 17)

    func warp() -> Warp {
        Warp(width: w, height: h, corners: [SIMD2(2, 1), SIMD2(20, 3), SIMD2(21, 15), SIMD2(1, 14)], cropOrigin: SIMD2(1.3, 0.7))
    }

    func values(_ n: Int, _ salt: Int) -> [Float] { (0..<n).map { Float(($0 * 7919 + salt) % 1000) / 500 - 1 } }

    /// The warp is linear in the image, so its backward must be its exact transpose:
    /// ⟨apply(x), y⟩ = ⟨x, backward(y)⟩ for any x, y (here two planes at once).
    func testBackwardIsTheTransposeOfApply() {
        let n = w * h * 2, v = warp()
        let x = values(n, 1), y = values(n, 2)
        var wx = [Float](repeating: 0, count: n), bty = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xb in wx.withUnsafeMutableBufferPointer { v.apply(xb.baseAddress!, planes: 2, into: $0.baseAddress!) } }
        y.withUnsafeBufferPointer { yb in bty.withUnsafeMutableBufferPointer { v.backward(yb.baseAddress!, planes: 2, into: $0.baseAddress!) } }
        let left = zip(wx, y).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let right = zip(x, bty).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)))
        XCTAssertGreaterThan(abs(left), 1, "a non-trivial product")
    }

    /// Finite differences through apply: nudging one source pixel changes exactly the outputs
    /// backward sends its gradient from.
    func testBackwardMatchesFiniteDifferences() {
        let n = w * h, v = warp()
        var x = values(n, 3)
        let r = values(n, 4)
        func loss() -> Double {
            var out = [Float](repeating: 0, count: n)
            x.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { v.apply(xb.baseAddress!, planes: 1, into: $0.baseAddress!) } }
            return zip(out, r).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        var grad = [Float](repeating: 0, count: n)
        r.withUnsafeBufferPointer { rb in grad.withUnsafeMutableBufferPointer { v.backward(rb.baseAddress!, planes: 1, into: $0.baseAddress!) } }
        for i in stride(from: 0, to: n, by: 7) {
            let p = x[i]
            x[i] = p + 0.5; let up = loss()
            x[i] = p - 0.5; let down = loss()
            x[i] = p
            XCTAssertEqual((up - down), Double(grad[i]), accuracy: 1e-3, "pixel \(i)")
        }
    }

    func testIdentityCornersAndAFullCropKeepTheImageInsideTheCrop() {
        // Corners at the canvas corners: the perspective is the identity, so the view is the
        // crop window stretched: the centre pixel samples near the centre.
        let v = Warp(width: w, height: h, corners: [SIMD2(0, 0), SIMD2(Float(w - 1), 0), SIMD2(Float(w - 1), Float(h - 1)), SIMD2(0, Float(h - 1))],
                     cropOrigin: SIMD2(0, 0))
        let x = (0..<(w * h)).map { Float($0 % w) }   // each pixel holds its column
        var out = [Float](repeating: 0, count: w * h)
        x.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { v.apply(xb.baseAddress!, planes: 1, into: $0.baseAddress!) } }
        let row = (h / 2) * w
        XCTAssertLessThan(out[row], out[row + w - 1], "columns still increase left to right")
        XCTAssertLessThan(out[row + w - 1], Float(w - 1), "the right edge is cropped away")
    }
}

final class GradNormTests: XCTestCase {
    /// GradNorm's weights are constants of the step (no gradient flows through them), so they
    /// are checked by hand: w_i = (G − g_i) / ((n − 1) G), g_i = mean |∂L_i/∂θ|.
    func testWeightsByHand() {
        // Mean absolute gradients 1 and 3: G = 4, weights 3/4 and 1/4.
        let w = GradNorm.weights([[1, -1], [3, -3]])
        XCTAssertEqual(w[0], 0.75, accuracy: 1e-7)
        XCTAssertEqual(w[1], 0.25, accuracy: 1e-7)
        // Three losses with means 1, 2, 5: G = 8, weights 7/16, 6/16, 3/16.
        let three = GradNorm.weights([[1], [-2], [5]])
        for (a, b) in zip(three, [7.0 / 16, 6.0 / 16, 3.0 / 16] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-7) }
    }

    func testWeightsSumToOneAndFavourTheSmallerGradient() {
        let grads: [[Float]] = [[0.1, -0.2, 0.05], [2, 1, -3], [0.5, 0.5, 0.5], [0, 0, 1e-3]]
        let w = GradNorm.weights(grads)
        XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertGreaterThan(w[0], w[1])
        XCTAssertEqual(w.firstIndex(of: w.max() ?? 0), 3, "the smallest gradient gets the largest weight")
        XCTAssertEqual(GradNorm.weights([[1, 2], [2, 1]]), [0.5, 0.5], "equal sizes, equal weights")
    }

    func testAllZeroGradientsGiveFiniteWeights() {
        XCTAssertTrue(GradNorm.weights([[0, 0], [0, 0]]).allSatisfy(\.isFinite))
    }
}
