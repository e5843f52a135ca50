import XCTest
import Models
import Vector

/// The gradients must be useful, not only correct: fitting one random stroke set to the
/// rendering of another has to remove nearly all of the pixel difference.
final class FittingTests: XCTestCase {
    func pack(_ strokes: [Stroke]) -> [Float] {
        strokes.flatMap { s in s.points.flatMap { [$0.x, $0.y] } + [s.halfWidth] }
    }

    func unpack(_ params: [Float], like template: [Stroke]) -> [Stroke] {
        var i = 0
        return template.map { t in
            var s = t
            for k in s.points.indices { s.points[k] = SIMD2(params[i], params[i + 1]); i += 2 }
            s.halfWidth = max(0.05, params[i]); i += 1
            return s
        }
    }

    /// Pixel L2 with Adam, coarse to fine: the first 200 of 300 steps compare box-blurred
    /// images (radius 2, then 1), which lets strokes feel target ink a few pixels away; the
    /// last 100 and the measure of success are plain pixel L2. On a 32×32 canvas plain L2
    /// throughout leaves 5–19 % on these seeds; the schedule brings every seed under 10 %.
    func testFittingRemovesNinetyPercentOfTheLoss() {
        for seed in UInt64(1)...4 {
            let remaining = fit(seed: seed, size: 32)
            XCTAssertLessThan(remaining, 0.1, "seed \(seed): \(remaining * 100) % of the loss remains")
        }
    }

    /// Separable box blur of radius r with zero padding (its own adjoint, so it also blurs gradients).
    func blur(_ img: [Float], size: Int, radius r: Int) -> [Float] {
        guard r > 0 else { return img }
        var tmp = [Float](repeating: 0, count: img.count), out = tmp
        let norm = 1 / Float(2 * r + 1)
        for y in 0..<size {
            for x in 0..<size {
                var acc: Float = 0
                for k in max(0, x - r)...min(size - 1, x + r) { acc += img[y * size + k] }
                tmp[y * size + x] = acc * norm
            }
        }
        for y in 0..<size {
            for x in 0..<size {
                var acc: Float = 0
                for k in max(0, y - r)...min(size - 1, y + r) { acc += tmp[k * size + x] }
                out[y * size + x] = acc * norm
            }
        }
        return out
    }

    /// Fits 16 random strokes to the rendering of 16 others; returns final / initial pixel L2.
    func fit(seed: UInt64, size: Int) -> Float {
        var rng = SplitMix(seed)
        let target = Raster.render(randomStrokes(16, canvas: Float(size), step: 14, width: 1.2...2.2, rng: &rng),
                                   width: size, height: size).image
        let start = randomStrokes(16, canvas: Float(size), step: 14, width: 1.7...1.7, rng: &rng)
        var params = pack(start)
        var adam = Adam(count: params.count, learningRate: 0.4)
        func lossAndGradient(_ p: [Float], radius: Int) -> (Float, [Float]) {
            let r = Raster.render(unpack(p, like: start), width: size, height: size)
            let a = blur(r.image, size: size, radius: radius), b = blur(target, size: size, radius: radius)
            var loss: Float = 0
            var dBlurred = [Float](repeating: 0, count: size * size)
            for i in dBlurred.indices {
                let diff = a[i] - b[i]
                loss += diff * diff
                dBlurred[i] = 2 * diff
            }
            let g = r.backward(blur(dBlurred, size: size, radius: radius))
            return (loss, g.flatMap { s in s.points.flatMap { [$0.x, $0.y] } + [s.halfWidth] })
        }
        let initial = lossAndGradient(params, radius: 0).0
        for step in 0..<300 {
            let (_, grad) = lossAndGradient(params, radius: step < 100 ? 2 : step < 200 ? 1 : 0)
            adam.update(&params, gradients: grad)
        }
        return lossAndGradient(params, radius: 0).0 / initial
    }
}
