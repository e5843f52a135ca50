import Foundation
import Tensors

extension GrayImage {
    /// Gaussian blur (σ in pixels), reflect padding, kernel truncated at 4σ (as scipy's gaussian_filter).
    public func gaussianBlurred(sigma: Float) -> GrayImage {
        guard sigma > 0 else { return self }
        let radius = Int((4 * sigma).rounded())
        var kernel = (-radius...radius).map { Float(Foundation.exp(-Double($0 * $0) / (2 * Double(sigma * sigma)))) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        /// scipy's "reflect": (d c b a | a b c d | d c b a).
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            let period = 2 * n
            j = ((j % period) + period) % period
            return j < n ? j : period - 1 - j
        }
        var tmp = [Float](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                var acc: Float = 0
                for (k, w) in kernel.enumerated() { acc += w * pixels[y * width + reflect(x + k - radius, width)] }
                tmp[y * width + x] = acc
            }
        }
        var out = [Float](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                var acc: Float = 0
                for (k, w) in kernel.enumerated() { acc += w * tmp[reflect(y + k - radius, height) * width + x] }
                out[y * width + x] = acc
            }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }

    /// Otsu's threshold over 256 bins between the image's min and max.
    public func otsuThreshold() -> Float {
        guard let lo = pixels.min(), let hi = pixels.max(), hi > lo else { return pixels.first ?? 0 }
        var hist = [Double](repeating: 0, count: 256)
        for v in pixels { hist[min(255, Int((v - lo) / (hi - lo) * 256))] += 1 }
        let total = Double(pixels.count)
        let centers = (0..<256).map { Double(lo) + (Double($0) + 0.5) * Double(hi - lo) / 256 }
        var best = 0, bestVar = -1.0
        var w0 = 0.0, sum0 = 0.0
        let sumAll = zip(hist, centers).reduce(0.0) { $0 + $1.0 * $1.1 }
        for t in 0..<255 {
            w0 += hist[t]; sum0 += hist[t] * centers[t]
            let w1 = total - w0
            if w0 == 0 || w1 == 0 { continue }
            let m0 = sum0 / w0, m1 = (sumAll - sum0) / w1
            let between = w0 * w1 * (m0 - m1) * (m0 - m1)
            if between > bestVar { bestVar = between; best = t }
        }
        return Float(centers[best])
    }
}

extension RGBImage {
    /// Luminance with skimage's rgb2gray weights (0.2125, 0.7154, 0.0721).
    public var gray: GrayImage {
        let plane = planeSize
        var out = [Float](repeating: 0, count: plane)
        for i in 0..<plane { out[i] = 0.2125 * pixels[i] + 0.7154 * pixels[plane + i] + 0.0721 * pixels[2 * plane + i] }
        return GrayImage(width: width, height: height, pixels: out)
    }
}

/// The extended difference of Gaussians edge map CLIPascene uses to keep first strokes
/// on edges (docs/algorithm.md §3): D = G(0.8) − 0.98·G(8); T = 1 if D < −0.1 else 1 + tanh(200 D);
/// min-max, then Otsu. Returns 1 on flat areas and 0 on edges.
public enum XDoG {
    public static func edges(_ image: GrayImage) -> GrayImage {
        let g1 = image.gaussianBlurred(sigma: 0.8), g2 = image.gaussianBlurred(sigma: 8)
        var t = [Float](repeating: 0, count: image.pixels.count)
        for i in t.indices {
            let d = g1.pixels[i] - 0.98 * g2.pixels[i]
            t[i] = d < -0.1 ? 1 : 1 + Float(tanh(Double(200 * d)))
        }
        let n = GrayImage(width: image.width, height: image.height, pixels: t).minMaxNormalised()
        let threshold = n.otsuThreshold()
        return GrayImage(width: n.width, height: n.height, pixels: n.pixels.map { $0 > threshold ? 1 : 0 })
    }
}
