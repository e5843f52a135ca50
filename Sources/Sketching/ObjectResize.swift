import Foundation
import Imaging
import Vector

/// The reference's `resize_obj` (docs/algorithm.md §1): a lone subject smaller than 0.7 × the canvas's
/// short side is cut out, enlarged to that size and centred, so the foreground strokes spend
/// themselves on it; `inverse` maps those strokes back onto the photo. Stroke widths are not
/// rescaled (as in the reference).
public struct ObjectResize: Sendable, Equatable {
    /// The subject's bounding box on the canvas (x, y, width, height).
    public let box: (x: Int, y: Int, width: Int, height: Int)
    /// Where the enlarged subject sits on the canvas (x, y, width, height).
    public let placed: (x: Int, y: Int, width: Int, height: Int)

    public static func == (a: ObjectResize, b: ObjectResize) -> Bool {
        a.box == b.box && a.placed == b.placed
    }

    /// The resize for `mask` (canvas size, 1 = subject), or nil when the reference would not
    /// resize: components smaller than a third of the largest are ignored, and it needs exactly
    /// one left whose box's longer side is under 0.7 × the canvas's shorter side.
    public static func plan(mask: GrayImage) -> ObjectResize? {
        let (labels, sizes) = mask.connectedComponents()
        guard let largest = sizes.max(), largest > 0 else { return nil }
        let kept = sizes.indices.filter { sizes[$0] * 3 >= largest }
        guard kept.count == 1, let only = kept.first else { return nil }
        let label = Int32(only + 1)
        var x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1
        for i in labels.indices where labels[i] == label {
            let x = i % mask.width, y = i / mask.width
            x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
        }
        let bw = x1 - x0 + 1, bh = y1 - y0 + 1
        let side = Int(0.7 * Float(min(mask.width, mask.height)))
        guard max(bw, bh) < side else { return nil }
        let scale = Float(side) / Float(max(bw, bh))
        let nw = max(1, Int((Float(bw) * scale).rounded())), nh = max(1, Int((Float(bh) * scale).rounded()))
        return ObjectResize(box: (x0, y0, bw, bh), placed: ((mask.width - nw) / 2, (mask.height - nh) / 2, nw, nh))
    }

    /// `image` (the subject on white) with the subject enlarged and centred on white.
    public func apply(to image: RGBImage) -> RGBImage {
        let crop = image.cropped(x: box.x, y: box.y, width: box.width, height: box.height)
            .resized(width: placed.width, height: placed.height).clamped()
        var out = RGBImage(width: image.width, height: image.height)
        for c in 0..<3 {
            for y in 0..<placed.height {
                for x in 0..<placed.width { out[c, placed.x + x, placed.y + y] = crop[c, x, y] }
            }
        }
        return out
    }

    /// A point of the enlarged drawing, on the photo's canvas.
    public func inverse(_ p: SIMD2<Float>) -> SIMD2<Float> {
        let sx = Float(placed.width) / Float(box.width), sy = Float(placed.height) / Float(box.height)
        let from = SIMD2(Float(placed.x) + Float(placed.width) / 2, Float(placed.y) + Float(placed.height) / 2)
        let to = SIMD2(Float(box.x) + Float(box.width) / 2, Float(box.y) + Float(box.height) / 2)
        return (p - from) / SIMD2(sx, sy) + to
    }

    public func inverse(_ s: Stroke) -> Stroke {
        var t = s
        t.points = s.points.map(inverse)
        return t
    }
}
