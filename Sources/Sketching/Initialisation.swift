import Foundation
import Imaging
import Models
import Vector
import Tensors

/// Where the first strokes go (docs/algorithm.md §3): pixels sampled without replacement with
/// probability ∝ exp(A/τ) over A = saliency · (1 − edges) > 0, each the start of a short
/// random walk that gives the four control points.
public enum Initialisation {
    public static func strokes(count: Int, saliency: GrayImage, edges: GrayImage, temperature: Float,
                               halfWidth: Float, rng: inout SeededRandom) -> [Stroke] {
        let w = saliency.width, h = saliency.height
        var attention = zip(saliency.pixels, edges.pixels).map { $0 * (1 - $1) }
        // A blank or flat image leaves too few candidates: fall back to saliency, then to uniform.
        if attention.filter({ $0 > 0 }).count < count { attention = saliency.pixels }
        if attention.filter({ $0 > 0 }).count < count { attention = [Float](repeating: 1, count: w * h) }
        var weights = attention.map { $0 > 0 ? Double(Foundation.exp($0 / temperature)) : 0 }
        var total = weights.reduce(0, +)
        let scale = 0.05 * Float(max(w, h))
        var strokes: [Stroke] = []
        for _ in 0..<min(count, w * h) {
            var r = Double(rng.uniform()) * total
            var pick = weights.count - 1
            for (i, wt) in weights.enumerated() where wt > 0 {
                r -= wt
                if r <= 0 { pick = i; break }
            }
            total -= weights[pick]
            weights[pick] = 0
            var p = SIMD2<Float>(Float(pick % w), Float(pick / w))
            var pts = [p]
            for _ in 0..<3 {
                p += SIMD2(rng.uniform() - 0.5, rng.uniform() - 0.5) * scale
                pts.append(p)
            }
            strokes.append(Stroke(points: pts, halfWidth: halfWidth))
        }
        return strokes
    }
}
