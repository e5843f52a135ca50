import XCTest
import Vector

struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Float = 0, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
}

/// Random strokes as the engine makes them: a start point and a short random walk.
func randomStrokes(_ n: Int, canvas: Float, step: Float = 12, width: ClosedRange<Float> = 0.8...2.5,
                   rng: inout SplitMix) -> [Stroke] {
    (0..<n).map { _ in
        var p = SIMD2<Float>(rng.uniform(0, canvas), rng.uniform(0, canvas))
        var pts = [p]
        for _ in 0..<3 {
            p += SIMD2(rng.uniform(-step, step), rng.uniform(-step, step))
            pts.append(p)
        }
        return Stroke(points: pts, halfWidth: rng.uniform(width.lowerBound, width.upperBound))
    }
}

final class RasterGradientTests: XCTestCase {
    func loss(_ strokes: [Stroke], _ weights: [Float], _ w: Int, _ h: Int) -> Double {
        let img = Raster.render(strokes, width: w, height: h).image
        var s: Double = 0
        for i in img.indices { s += Double(img[i]) * Double(weights[i]) }
        return s
    }

    /// Compares backward() with central differences for every coordinate and width.
    func checkGradients(_ strokes: [Stroke], w: Int = 48, h: Int = 48, seed: UInt64, eps: Float = 1e-3,
                        file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix(seed)
        let weights = (0..<(w * h)).map { _ in rng.uniform(-1, 1) }
        let grads = Raster.render(strokes, width: w, height: h).backward(weights)
        var analytic: [Double] = [], numeric: [Double] = []
        for s in strokes.indices {
            for k in strokes[s].points.indices {
                for c in 0..<2 {
                    var plus = strokes, minus = strokes
                    plus[s].points[k][c] += eps
                    minus[s].points[k][c] -= eps
                    numeric.append((loss(plus, weights, w, h) - loss(minus, weights, w, h)) / Double(2 * eps))
                    analytic.append(Double(grads[s].points[k][c]))
                }
            }
            var plus = strokes, minus = strokes
            plus[s].halfWidth += eps
            minus[s].halfWidth -= eps
            numeric.append((loss(plus, weights, w, h) - loss(minus, weights, w, h)) / Double(2 * eps))
            analytic.append(Double(grads[s].halfWidth))
        }
        // Coverage is piecewise linear in distance, so a difference step that crosses a kink
        // at some pixel is off by a little; compare against the overall gradient scale.
        let scale = max(1e-3, numeric.map(abs).max() ?? 0)
        var worst: Double = 0
        for i in analytic.indices { worst = max(worst, abs(analytic[i] - numeric[i]) / scale) }
        XCTAssertLessThan(worst, 0.03, "worst relative gradient error \(worst)", file: file, line: line)
        let dot = zip(analytic, numeric).map { $0 * $1 }.reduce(0, +)
        let na = analytic.map { $0 * $0 }.reduce(0, +).squareRoot(), nn = numeric.map { $0 * $0 }.reduce(0, +).squareRoot()
        if nn > 0 { XCTAssertGreaterThan(dot / (na * nn), 0.999, "cosine", file: file, line: line) }
    }

    func testRandomScenes() {
        for seed in UInt64(1)...4 {
            var rng = SplitMix(seed)
            checkGradients(randomStrokes(5, canvas: 48, rng: &rng), seed: seed + 100)
        }
    }

    func testZeroLengthCurveIsADot() {
        let p = SIMD2<Float>(20.3, 17.6)
        let dot = Stroke(points: [p, p, p, p], halfWidth: 2.2)
        let img = Raster.render([dot], width: 48, height: 48).image
        XCTAssertLessThan(img[17 * 48 + 20], 0.01, "the dot is inked at its centre")
        XCTAssertEqual(img[17 * 48 + 30], 1, "and nowhere far away")
        // The shape is degenerate, so single control points have only one-sided derivatives;
        // moving the whole dot and changing its width are smooth and must match.
        var rng = SplitMix(7)
        let weights = (0..<(48 * 48)).map { _ in rng.uniform(-1, 1) }
        let g = Raster.render([dot], width: 48, height: 48).backward(weights)[0]
        let total = g.points.reduce(SIMD2<Float>.zero, +)
        let eps: Float = 1e-3
        for c in 0..<2 {
            var plus = dot, minus = dot
            for k in 0..<4 { plus.points[k][c] += eps; minus.points[k][c] -= eps }
            let fd = (loss([plus], weights, 48, 48) - loss([minus], weights, 48, 48)) / Double(2 * eps)
            XCTAssertEqual(Double(total[c]), fd, accuracy: 0.02 * max(1, abs(fd)))
        }
        var wider = dot, thinner = dot
        wider.halfWidth += eps
        thinner.halfWidth -= eps
        let fdw = (loss([wider], weights, 48, 48) - loss([thinner], weights, 48, 48)) / Double(2 * eps)
        XCTAssertEqual(Double(g.halfWidth), fdw, accuracy: 0.02 * max(1, abs(fdw)))
    }

    func testWidthNearZeroFadesAndHasGradients() {
        var rng = SplitMix(11)
        var strokes = randomStrokes(4, canvas: 48, rng: &rng)
        for i in strokes.indices { strokes[i].halfWidth = 0.04 }
        let img = Raster.render(strokes, width: 48, height: 48).image
        XCTAssertGreaterThan(img.min() ?? 0, 0.85, "a hairline is faint, not a full-ink ghost")
        XCTAssertLessThan(img.min() ?? 1, 0.99, "but still drawn")
        checkGradients(strokes, seed: 12, eps: 5e-4)
    }

    func testStrokesPartlyAndWhollyOffCanvas() {
        let partly = Stroke(points: [SIMD2(-10, 5), SIMD2(8, 12), SIMD2(20, -6), SIMD2(30, 20)], halfWidth: 1.7)
        let wholly = Stroke(points: [SIMD2(-40, -40), SIMD2(-30, -35), SIMD2(-20, -45), SIMD2(-10, -30)], halfWidth: 2)
        let beyond = Stroke(points: [SIMD2(60, 10), SIMD2(70, 20), SIMD2(80, 30), SIMD2(90, 40)], halfWidth: 2)
        checkGradients([partly, wholly, beyond], seed: 21)
        let r = Raster.render([wholly, beyond], width: 48, height: 48)
        XCTAssertEqual(r.image, [Float](repeating: 1, count: 48 * 48))
        let g = r.backward([Float](repeating: 1, count: 48 * 48))
        XCTAssertTrue(g.allSatisfy { $0.halfWidth == 0 && $0.points.allSatisfy { $0 == .zero } })
    }

    func testManyOverlappingStrokes() {
        var rng = SplitMix(31)
        // 14 wide strokes crowded into a 20-px square: deep overlaps, full ink in places.
        let strokes = randomStrokes(14, canvas: 20, step: 6, width: 1.5...3.5, rng: &rng).map { s -> Stroke in
            var s = s
            s.points = s.points.map { $0 + SIMD2(14, 14) }
            return s
        }
        XCTAssertLessThan(Raster.render(strokes, width: 48, height: 48).image.min() ?? 1, 1e-6)
        checkGradients(strokes, seed: 32)
    }

    func testMultiSegmentStrokesAndOpacity() {
        var rng = SplitMix(41)
        var pts: [SIMD2<Float>] = [SIMD2(10, 10)]
        for _ in 0..<6 { pts.append(pts.last! + SIMD2(rng.uniform(-3, 8), rng.uniform(-3, 8))) }
        let s = Stroke(points: pts, halfWidth: 1.6, opacity: 0.6)
        XCTAssertEqual(s.segmentCount, 2)
        checkGradients([s], seed: 42)
    }

    func testNonFiniteStrokesAreSkipped() {
        let bad = Stroke(points: [SIMD2(.nan, 1), SIMD2(2, 2), SIMD2(3, 3), SIMD2(.infinity, 4)], halfWidth: 1)
        let huge = Stroke(points: [SIMD2(1e30, -1e30), SIMD2(2, 2), SIMD2(3, 3), SIMD2(4, 4)], halfWidth: 1)
        let r = Raster.render([bad, huge], width: 16, height: 16)
        XCTAssertTrue(r.image.allSatisfy { $0.isFinite })
        let g = r.backward([Float](repeating: 1, count: 256))
        XCTAssertTrue(g.allSatisfy { $0.halfWidth.isFinite && $0.points.allSatisfy { $0.x.isFinite && $0.y.isFinite } })
    }

    func testDeterministic() {
        var rng = SplitMix(5)
        let strokes = randomStrokes(32, canvas: 64, rng: &rng)
        let weights = (0..<(64 * 64)).map { _ in rng.uniform(-1, 1) }
        let a = Raster.render(strokes, width: 64, height: 64)
        let b = Raster.render(strokes, width: 64, height: 64)
        XCTAssertEqual(a.image, b.image)
        XCTAssertEqual(a.backward(weights), b.backward(weights))
    }
}
