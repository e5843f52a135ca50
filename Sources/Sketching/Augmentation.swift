import Foundation
import Models
import Tensors

/// One random view of the canvas, as CLIPascene's augmentations make them: a random
/// perspective (corners pulled inward by up to half of distortion 0.5, black fill) followed
/// by a fixed-scale random crop (80 % of the area) resized back to the canvas. Composed into
/// a single map from output pixels to source coordinates, sampled bilinearly, so the
/// same view can be applied to sketch and target and differentiated.
public struct Warp: Sendable {
    public let width: Int, height: Int
    /// Source (x, y) for each output pixel centre, flattened; NaN marks outside (fill 0).
    let sourceX: [Float], sourceY: [Float]

    static let distortion: Float = 0.5
    static let cropScale: Float = 0.8

    static func random(width w: Int, height h: Int, rng: inout SeededRandom) -> Warp {
        // Perspective: corners pulled inward (torchvision's RandomPerspective).
        let dw = Int(distortion * Float(w) / 2), dh = Int(distortion * Float(h) / 2)
        let W = Float(w - 1), H = Float(h - 1)
        let corners: [SIMD2<Float>] = [
            SIMD2(Float(rng.int(0, dw)), Float(rng.int(0, dh))),
            SIMD2(W - Float(rng.int(0, dw)), Float(rng.int(0, dh))),
            SIMD2(W - Float(rng.int(0, dw)), H - Float(rng.int(0, dh))),
            SIMD2(Float(rng.int(0, dw)), H - Float(rng.int(0, dh))),
        ]
        // Crop: side √0.8 of each dimension at a random offset.
        let cw = Float(w) * cropScale.squareRoot(), ch = Float(h) * cropScale.squareRoot()
        let ox = rng.uniform(0, Float(w) - cw), oy = rng.uniform(0, Float(h) - ch)
        return Warp(width: w, height: h, corners: corners, cropOrigin: SIMD2(ox, oy))
    }

    /// The view whose perspective moves the canvas corners (0, 0), (w−1, 0), (w−1, h−1),
    /// (0, h−1) to `corners`, then crops a √0.8-sided window at `cropOrigin` and stretches
    /// it over the canvas.
    public init(width w: Int, height h: Int, corners: [SIMD2<Float>], cropOrigin: SIMD2<Float>) {
        precondition(w > 0 && h > 0 && corners.count == 4, "a warp needs a canvas and four corners")
        let W = Float(w - 1), H = Float(h - 1)
        let start: [SIMD2<Float>] = [SIMD2(0, 0), SIMD2(W, 0), SIMD2(W, H), SIMD2(0, H)]
        // Output of the perspective at point q shows the input at inverse(q): map corners → start.
        let toSource = Self.homography(from: corners, to: start)
        let cw = Float(w) * Self.cropScale.squareRoot(), ch = Float(h) * Self.cropScale.squareRoot()
        let ox = cropOrigin.x, oy = cropOrigin.y
        var sx = [Float](repeating: 0, count: w * h), sy = sx
        for y in 0..<h {
            for x in 0..<w {
                // Pixel centre in the crop, then in the perspective output (pixel-index coordinates).
                let px = ox + (Float(x) + 0.5) * cw / Float(w) - 0.5
                let py = oy + (Float(y) + 0.5) * ch / Float(h) - 0.5
                let d = toSource[6] * px + toSource[7] * py + 1
                let srcX = (toSource[0] * px + toSource[1] * py + toSource[2]) / d
                let srcY = (toSource[3] * px + toSource[4] * py + toSource[5]) / d
                sx[y * w + x] = srcX
                sy[y * w + x] = srcY
            }
        }
        self.init(width: w, height: h, sourceX: sx, sourceY: sy)
    }

    init(width: Int, height: Int, sourceX: [Float], sourceY: [Float]) {
        self.width = width
        self.height = height
        self.sourceX = sourceX
        self.sourceY = sourceY
    }

    /// The 8 coefficients (a…h) of the homography taking `from[i]` to `to[i]`.
    static func homography(from: [SIMD2<Float>], to: [SIMD2<Float>]) -> [Float] {
        var m = [[Double]](repeating: [Double](repeating: 0, count: 9), count: 8)
        for i in 0..<4 {
            let (x, y) = (Double(from[i].x), Double(from[i].y)), (u, v) = (Double(to[i].x), Double(to[i].y))
            m[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y, u]
            m[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y, v]
        }
        // Gaussian elimination with partial pivoting.
        for c in 0..<8 {
            let p = (c..<8).max { abs(m[$0][c]) < abs(m[$1][c]) } ?? c
            m.swapAt(c, p)
            let pivot = m[c][c]
            guard abs(pivot) > 1e-12 else { return [1, 0, 0, 0, 1, 0, 0, 0] }
            for r in 0..<8 where r != c {
                let f = m[r][c] / pivot
                if f != 0 { for k in c..<9 { m[r][k] -= f * m[c][k] } }
            }
        }
        return (0..<8).map { Float(m[$0][8] / m[$0][$0]) }
    }

    /// The top-left tap of output pixel `i` and the bilinear fractions. Coordinates far
    /// outside are clamped first (every tap then misses the image and reads as fill).
    @inline(__always)
    func taps(_ i: Int) -> (Int, Int, Float, Float) {
        let x = sourceX[i], y = sourceY[i]
        guard x.isFinite, y.isFinite else { return (-2, -2, 0, 0) }
        let x0f = x.rounded(.down), y0f = y.rounded(.down)
        let x0 = Int(max(-2, min(Float(width + 1), x0f))), y0 = Int(max(-2, min(Float(height + 1), y0f)))
        return (x0, y0, x - x0f, y - y0f)
    }

    /// Samples `planes` planes of a width×height image (planar, one after another).
    public func apply(_ src: UnsafePointer<Float>, planes: Int, into out: UnsafeMutablePointer<Float>) {
        let n = width * height
        for i in 0..<n {
            let (x0, y0, fx, fy) = taps(i)
            if x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height {
                // All four taps inside: read them directly (same arithmetic as below).
                for p in 0..<planes {
                    let t = src + p * n + y0 * width + x0
                    let top = t[0] * (1 - fx) + t[1] * fx
                    let bottom = t[width] * (1 - fx) + t[width + 1] * fx
                    out[p * n + i] = top * (1 - fy) + bottom * fy
                }
                continue
            }
            for p in 0..<planes {
                let base = src + p * n
                func at(_ xx: Int, _ yy: Int) -> Float {
                    (xx >= 0 && xx < width && yy >= 0 && yy < height) ? base[yy * width + xx] : 0
                }
                let top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
                let bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
                out[p * n + i] = top * (1 - fy) + bottom * fy
            }
        }
    }

    /// Adds the transpose of `apply` to `dSrc`: each output gradient goes back to its four taps.
    public func backward(_ dOut: UnsafePointer<Float>, planes: Int, into dSrc: UnsafeMutablePointer<Float>) {
        let n = width * height
        for i in 0..<n {
            let (x0, y0, fx, fy) = taps(i)
            for p in 0..<planes {
                let g = dOut[p * n + i]
                if g == 0 { continue }
                let base = dSrc + p * n
                func add(_ xx: Int, _ yy: Int, _ v: Float) {
                    if xx >= 0 && xx < width && yy >= 0 && yy < height { base[yy * width + xx] += v }
                }
                add(x0, y0, g * (1 - fx) * (1 - fy))
                add(x0 + 1, y0, g * fx * (1 - fy))
                add(x0, y0 + 1, g * (1 - fx) * fy)
                add(x0 + 1, y0 + 1, g * fx * fy)
            }
        }
    }
}
