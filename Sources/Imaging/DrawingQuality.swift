/// How well a sketch follows a photo's structure, as the quality benchmark reports it
/// (docs/quality.md has the definition):
/// - edges: the strongest 10 % of the Sobel gradient magnitude of the photo's grey image,
///   blurred with σ = 1 px, at the sketch's size;
/// - precision: the mean distance (px) from inked pixels (< 0.5) to the nearest edge pixel;
/// - recall: the mean distance from edge pixels to the nearest inked pixel;
/// - ink: the inked fraction of the page.
public struct DrawingQuality: Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var ink: Double

    /// `sketch` and `photo` at the same size (grey, 0 black … 1 white).
    public init(sketch: GrayImage, photo: GrayImage) {
        precondition(sketch.width == photo.width && sketch.height == photo.height, "sizes differ")
        let edges = Self.edges(photo)
        let inked = sketch.pixels.map { $0 < 0.5 }
        let toEdge = Self.distanceTransform(edges, width: photo.width, height: photo.height)
        let toInk = Self.distanceTransform(inked, width: photo.width, height: photo.height)
        func mean(_ d: [Double], over mask: [Bool]) -> Double {
            var sum = 0.0, n = 0
            for i in mask.indices where mask[i] { sum += d[i]; n += 1 }
            return n > 0 ? sum / Double(n) : .nan
        }
        precision = mean(toEdge, over: inked)
        recall = mean(toInk, over: edges)
        ink = Double(inked.filter { $0 }.count) / Double(max(1, inked.count))
    }

    /// The edge pixels of a grey photo: top 10 % of the Sobel magnitude of its σ = 1 blur.
    public static func edges(_ photo: GrayImage) -> [Bool] {
        let g = photo.gaussianBlurred(sigma: 1)
        let w = g.width, h = g.height
        func at(_ x: Int, _ y: Int) -> Float { g.pixels[min(h - 1, max(0, y)) * w + min(w - 1, max(0, x))] }
        var magnitude = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let gx = (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1))
                let gy = (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1))
                magnitude[y * w + x] = (gx * gx + gy * gy).squareRoot()
            }
        }
        guard !magnitude.isEmpty else { return [] }
        let sorted = magnitude.sorted()
        let threshold = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.9))]
        // Strictly above the 90th percentile, except on flat photos where nothing would be.
        return magnitude.map { threshold > 0 ? $0 >= threshold : false }
    }

    /// Exact Euclidean distance (px) from every pixel to the nearest `true` one (∞ when none),
    /// by two passes of the lower envelope of parabolas (Felzenszwalb & Huttenlocher).
    public static func distanceTransform(_ mask: [Bool], width w: Int, height h: Int) -> [Double] {
        let infinity = 1e20
        var d = mask.map { $0 ? 0.0 : infinity }
        func pass(_ f: [Double]) -> [Double] {
            let n = f.count
            var out = [Double](repeating: 0, count: n), v = [Int](repeating: 0, count: n), z = [Double](repeating: 0, count: n + 1)
            var k = 0
            z[0] = -.infinity
            z[1] = .infinity
            for q in 1..<max(1, n) {
                var s: Double
                repeat {
                    let p = v[k]
                    s = ((f[q] + Double(q * q)) - (f[p] + Double(p * p))) / Double(2 * q - 2 * p)
                    if s <= z[k] { k -= 1 } else { break }
                } while k >= 0
                k += 1
                v[k] = q
                z[k] = s
                z[k + 1] = .infinity
            }
            k = 0
            for q in 0..<n {
                while z[k + 1] < Double(q) { k += 1 }
                let p = v[k]
                out[q] = Double((q - p) * (q - p)) + f[p]
            }
            return out
        }
        for x in 0..<w {
            let column = pass((0..<h).map { d[$0 * w + x] })
            for y in 0..<h { d[y * w + x] = column[y] }
        }
        for y in 0..<h {
            let row = pass(Array(d[(y * w)..<(y * w + w)]))
            d.replaceSubrange((y * w)..<(y * w + w), with: row)
        }
        return d.map { $0 >= infinity / 2 ? .infinity : $0.squareRoot() }
    }
}
