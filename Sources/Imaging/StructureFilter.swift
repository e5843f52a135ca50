import Foundation
import Tensors

/// Keeps an image's structure and removes its texture: the rolling guidance filter (Zhang,
/// Shen, Xu and Jia, ECCV 2014). A Gaussian blur of σ_s first wipes out every detail smaller
/// than about σ_s (grain, fur, foliage, ripples) along with the edges; then each iteration is
/// a joint bilateral filter of the original image guided by the previous result, which
/// restores the edges of the large shapes (they still differ in the blurred guide) but not
/// the small ones (the guide no longer has them). Used on the background target so its
/// strokes follow outlines, horizons and buildings rather than imitating texture
/// (docs/quality.md).
public struct StructureFilter: Sendable, Equatable {
    /// Scale (px) below which detail counts as texture.
    public var spatialSigma: Float
    /// Colour distance (on 0…1 RGB) across which the guide keeps an edge.
    public var rangeSigma: Float
    /// Joint bilateral passes after the blur (the paper's 4 restores the large edges).
    public var iterations: Int

    public init(spatialSigma: Float = 3, rangeSigma: Float = 0.1, iterations: Int = 4) {
        self.spatialSigma = spatialSigma
        self.rangeSigma = rangeSigma
        self.iterations = iterations
    }

    /// The filtered image (same size). σ_s ≤ 0 or no iterations return the image unchanged.
    public func apply(_ image: RGBImage) -> RGBImage {
        guard spatialSigma > 0, iterations > 0, image.planeSize > 1 else { return image }
        let plane = image.planeSize
        var guide = RGBImage(width: image.width, height: image.height, pixels: (0..<3).flatMap { c in
            GrayImage(width: image.width, height: image.height, pixels: Array(image.pixels[c * plane..<(c + 1) * plane]))
                .gaussianBlurred(sigma: spatialSigma).pixels
        })
        for _ in 0..<iterations { guide = jointBilateral(image, guide: guide) }
        return guide
    }

    /// Σ_q G_s(p−q) G_r(guide(p)−guide(q)) image(q) / Σ weights, over a window of 2σ_s.
    func jointBilateral(_ image: RGBImage, guide: RGBImage) -> RGBImage {
        let w = image.width, h = image.height, plane = image.planeSize
        let radius = max(1, Int((2 * spatialSigma).rounded(.up)))
        let side = 2 * radius + 1
        var spatial = [Float](repeating: 0, count: side * side)
        for dy in -radius...radius {
            for dx in -radius...radius {
                spatial[(dy + radius) * side + dx + radius] = Foundation.exp(-Float(dx * dx + dy * dy) / (2 * spatialSigma * spatialSigma))
            }
        }
        let rangeScale = -1 / (2 * rangeSigma * rangeSigma)
        var out = [Float](unspecified: 3 * plane)
        image.pixels.withUnsafeBufferPointer { ib in guide.pixels.withUnsafeBufferPointer { gb in
        out.withUnsafeMutableBufferPointer { ob in spatial.withUnsafeBufferPointer { sb in
            guard let i0 = ib.baseAddress, let g0 = gb.baseAddress, let o0 = ob.baseAddress, let s0 = sb.baseAddress else { return }
            let (src, gd, dst, sp) = (UncheckedSendable(i0), UncheckedSendable(g0), UncheckedSendable(o0), UncheckedSendable(s0))
            parallelFor(h) { rows in
                for y in rows {
                    let y0 = max(0, y - radius), y1 = min(h - 1, y + radius)
                    for x in 0..<w {
                        let p = y * w + x
                        let gr = gd.value[p], gg = gd.value[plane + p], gbl = gd.value[2 * plane + p]
                        let x0 = max(0, x - radius), x1 = min(w - 1, x + radius)
                        var total: Float = 0, r: Float = 0, g: Float = 0, b: Float = 0
                        for qy in y0...y1 {
                            let row = qy * w, srow = (qy - y + radius) * side + radius - x
                            for qx in x0...x1 {
                                let q = row + qx
                                let d0 = gd.value[q] - gr, d1 = gd.value[plane + q] - gg, d2 = gd.value[2 * plane + q] - gbl
                                let weight = sp.value[srow + qx] * Foundation.exp((d0 * d0 + d1 * d1 + d2 * d2) * rangeScale)
                                total += weight
                                r += weight * src.value[q]
                                g += weight * src.value[plane + q]
                                b += weight * src.value[2 * plane + q]
                            }
                        }
                        // The centre's own weight is 1, so the total is never 0.
                        dst.value[p] = r / total
                        dst.value[plane + p] = g / total
                        dst.value[2 * plane + p] = b / total
                    }
                }
            }
        } } } }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
