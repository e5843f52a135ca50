import Tensors

/// The differentiable stroke rasteriser.
///
/// Coverage of a pixel by a stroke is the 1-D box filter of the band [−w, w] over the
/// pixel's footprint [d − ½, d + ½], where d is the distance from the pixel centre to the
/// curve (the deterministic formulation of docs/algorithm.md §7; it stays right as
/// w → 0, where a stroke fades instead of leaving a ghost line). Strokes are composited
/// "over" in order onto white: I = Π (1 − opacity·coverage).
///
/// Curves are flattened into short chords before distances are taken; the forward pass
/// is defined on that polyline, and the backward pass is its exact derivative.
public struct Raster: Sendable {
    public let width: Int
    public let height: Int
    /// Intensity, row-major, 1 = white paper, 0 = full ink.
    public private(set) var image: [Float]
    let strokes: [Stroke]
    let polylines: [Polyline]
    var layers: [CoverageLayer]

    /// Renders `strokes` (in drawing order) on a `width`×`height` canvas.
    public static func render(_ strokes: [Stroke], width: Int, height: Int) -> Raster {
        precondition(width > 0 && height > 0, "canvas must be non-empty, got \(width)×\(height)")
        let polylines = strokes.map { Polyline($0) }
        var layers = [CoverageLayer](repeating: CoverageLayer(), count: strokes.count)
        layers.withUnsafeMutableBufferPointer { buf in
            let out = UncheckedSendable(buf)
            parallelFor(strokes.count) { range in
                for s in range {
                    out.value[s] = CoverageLayer(stroke: strokes[s], polyline: polylines[s], width: width, height: height)
                }
            }
        }
        // Composite in drawing order, remembering what lay beneath each stroke (for backward).
        var image = [Float](repeating: 1, count: width * height)
        for s in layers.indices {
            let alpha = strokes[s].clampedOpacity
            image.withUnsafeMutableBufferPointer { img in
                layers[s].composite(onto: img.baseAddress!, alpha: alpha)
            }
        }
        return Raster(width: width, height: height, image: image, strokes: strokes, polylines: polylines, layers: layers)
    }

    /// Gradients of a loss with respect to every stroke's control points and half-width,
    /// given ∂loss/∂image (same layout as `image`).
    public func backward(_ dImage: [Float]) -> [StrokeGradient] {
        precondition(dImage.count == width * height, "dImage has \(dImage.count) values, canvas has \(width * height)")
        // ∂I/∂a_s = −Π_{t≠s}(1 − a_t): the product under s (saved in forward) times the
        // product over s, built here from the top stroke down. No division, so full ink is exact.
        var over = [Float](repeating: 1, count: width * height)
        var beneathAndOver = [[Float]](repeating: [], count: layers.count)
        for s in layers.indices.reversed() {
            let alpha = strokes[s].clampedOpacity
            beneathAndOver[s] = over.withUnsafeMutableBufferPointer { layers[s].othersProduct(over: $0.baseAddress!, alpha: alpha) }
        }
        var grads = [StrokeGradient](repeating: StrokeGradient(points: [], halfWidth: 0), count: strokes.count)
        grads.withUnsafeMutableBufferPointer { buf in
            let out = UncheckedSendable(buf)
            dImage.withUnsafeBufferPointer { dI in
                parallelFor(strokes.count) { range in
                    for s in range {
                        out.value[s] = layers[s].gradient(stroke: strokes[s],
                                                          others: beneathAndOver[s], dImage: dI.baseAddress!)
                    }
                }
            }
        }
        return grads
    }

    /// The image as RGB (black ink on white in all three channels).
    public var rgb: [Float] { image + image + image }
}

extension Stroke {
    var clampedOpacity: Float { isFinite ? min(1, max(0, opacity)) : 0 }
}

/// A stroke flattened into chords, each knowing its Bézier segment and parameter range.
/// Chords find the neighbourhood of the closest point quickly; Newton steps on the true
/// cubic then make the distance exact, so it is smooth in the control points whatever
/// the number of chords.
struct Polyline: Sendable {
    var ax: [Float] = [], ay: [Float] = [], dx: [Float] = [], dy: [Float] = [], invLen2: [Float] = []
    var segment: [Int32] = []
    var t0: [Float] = [], t1: [Float] = []
    var count: Int { ax.count }

    init(_ stroke: Stroke) {
        guard stroke.isFinite else { return }
        for j in 0..<stroke.segmentCount {
            let p = stroke.points[(3 * j)...(3 * j + 3)]
            var polygon: Float = 0
            for k in p.startIndex..<(p.endIndex - 1) {
                let d = p[k + 1] - p[k]
                polygon += (d * d).sum().squareRoot()
            }
            // About one chord per 2 px of control polygon: the chord-to-curve gap stays far
            // below a pixel for the curvatures strokes have here.
            let n = Int(min(96, max(4, (polygon / 2).rounded(.up))))
            var prev = stroke.point(segment: j, t: 0)
            var prevT: Float = 0
            for k in 1...n {
                let t = Float(k) / Float(n)
                let next = stroke.point(segment: j, t: t)
                let d = next - prev
                let len2 = (d * d).sum()
                ax.append(prev.x); ay.append(prev.y); dx.append(d.x); dy.append(d.y)
                invLen2.append(len2 > 1e-20 ? 1 / len2 : 0)
                segment.append(Int32(j))
                t0.append(prevT); t1.append(t)
                prev = next; prevT = t
            }
        }
    }
}

/// The pixels one stroke covers, with what backward needs at each: coverage, its
/// derivatives with respect to distance and width, the unit vector from the closest curve
/// point to the pixel centre, and the segment and parameter of that closest point.
struct CoverageLayer: Sendable {
    var pixel: [Int32] = []
    var coverage: [Float] = []
    var dCovDist: [Float] = []
    var dCovWidth: [Float] = []
    var normalX: [Float] = []
    var normalY: [Float] = []
    var segment: [Int32] = []
    var curveT: [Float] = []
    /// Π(1 − a) of the strokes drawn before this one, at each covered pixel.
    var beneath: [Float] = []

    init() {}

    static let tile = 8

    init(stroke: Stroke, polyline: Polyline, width: Int, height: Int) {
        let w = stroke.halfWidth
        guard polyline.count > 0, w > 0, stroke.clampedOpacity > 0 else { return }
        let reach = max(0, w) + 0.5  // beyond this distance coverage is zero
        var lo = SIMD2<Float>(repeating: .greatestFiniteMagnitude), hi = -lo
        for p in stroke.points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        // Clamp in float before converting, so absurd coordinates cannot overflow Int.
        let x0 = Int(max(0, min(Float(width), (lo.x - reach - 1).rounded(.down))))
        let y0 = Int(max(0, min(Float(height), (lo.y - reach - 1).rounded(.down))))
        let x1 = Int(max(0, min(Float(width), (hi.x + reach + 1).rounded(.up))))
        let y1 = Int(max(0, min(Float(height), (hi.y + reach + 1).rounded(.up))))
        guard x1 > x0, y1 > y0 else { return }

        let tile = CoverageLayer.tile
        let halfDiagonal = Float(tile) * 0.7072
        var near = [Int32]()
        near.reserveCapacity(polyline.count)
        let lane = SIMD8<Float>(0, 1, 2, 3, 4, 5, 6, 7)
        polyline.ax.withUnsafeBufferPointer { ax in
        polyline.ay.withUnsafeBufferPointer { ay in
        polyline.dx.withUnsafeBufferPointer { dx in
        polyline.dy.withUnsafeBufferPointer { dy in
        polyline.invLen2.withUnsafeBufferPointer { il in
        polyline.segment.withUnsafeBufferPointer { segmentOf in
        polyline.t0.withUnsafeBufferPointer { chordT0 in
        polyline.t1.withUnsafeBufferPointer { chordT1 in
            for ty in stride(from: y0, to: y1, by: tile) {
                for tx in stride(from: x0, to: x1, by: tile) {
                    // Chords that can reach some pixel of this tile (conservative test at its centre).
                    let cx = Float(tx) + Float(tile) / 2, cy = Float(ty) + Float(tile) / 2
                    let limit = reach + halfDiagonal
                    near.removeAll(keepingCapacity: true)
                    for i in 0..<polyline.count {
                        let px = cx - ax[i], py = cy - ay[i]
                        let t = min(1, max(0, (px * dx[i] + py * dy[i]) * il[i]))
                        let ex = px - t * dx[i], ey = py - t * dy[i]
                        if ex * ex + ey * ey <= limit * limit { near.append(Int32(i)) }
                    }
                    if near.isEmpty { continue }
                    let xs = lane + Float(tx) + 0.5
                    for y in ty..<min(ty + tile, y1) {
                        let ys = SIMD8<Float>(repeating: Float(y) + 0.5)
                        var best = SIMD8<Float>(repeating: .greatestFiniteMagnitude)
                        var bestEx = SIMD8<Float>(), bestEy = SIMD8<Float>()
                        var bestI = SIMD8<Float>(), bestT = SIMD8<Float>()
                        for i32 in near {
                            let i = Int(i32)
                            let px = xs - ax[i], py = ys - ay[i]
                            var t = (px * dx[i] + py * dy[i]) * il[i]
                            t.replace(with: 0, where: t .< 0)
                            t.replace(with: 1, where: t .> 1)
                            let ex = px - t * dx[i], ey = py - t * dy[i]
                            let d2 = ex * ex + ey * ey
                            let closer = d2 .< best
                            best.replace(with: d2, where: closer)
                            bestEx.replace(with: ex, where: closer)
                            bestEy.replace(with: ey, where: closer)
                            bestT.replace(with: t, where: closer)
                            bestI.replace(with: Float(i), where: closer)
                        }
                        for l in 0..<min(tile, x1 - tx) {
                            // The chords are within a small fraction of a pixel of the curve.
                            if best[l] >= (reach + 0.5) * (reach + 0.5) { continue }
                            let c = SIMD2<Float>(xs[l], ys[l])
                            let i = Int(bestI[l])
                            let j = Int(segmentOf[i])
                            let t0 = chordT0[i]
                            var t = t0 + bestT[l] * (chordT1[i] - t0)
                            var e = SIMD2<Float>(bestEx[l], bestEy[l])
                            closestPoint(on: stroke.points, segment: j, to: c, t: &t, offset: &e)
                            let d2 = (e * e).sum()
                            if d2 >= reach * reach { continue }
                            let d = d2.squareRoot()
                            let low = max(d - 0.5, -w), high = min(d + 0.5, w)
                            let cov = high - low
                            if cov <= 0 { continue }
                            let highIsD = d + 0.5 < w, lowIsD = d - 0.5 > -w
                            pixel.append(Int32(y * width + tx + l))
                            coverage.append(cov)
                            dCovDist.append((highIsD ? 1 : 0) - (lowIsD ? 1 : 0))
                            dCovWidth.append((highIsD ? 0 : 1) + (lowIsD ? 0 : 1))
                            let inv: Float = d > 1e-12 ? 1 / d : 0
                            normalX.append(e.x * inv)
                            normalY.append(e.y * inv)
                            segment.append(Int32(j))
                            curveT.append(t)
                        }
                    }
                }
            }
        }}}}}}}}
    }

    /// Multiplies the image by (1 − alpha·coverage), saving what was beneath.
    mutating func composite(onto image: UnsafeMutablePointer<Float>, alpha: Float) {
        beneath = [Float](repeating: 1, count: pixel.count)
        for e in pixel.indices {
            let p = Int(pixel[e])
            beneath[e] = image[p]
            image[p] *= 1 - alpha * coverage[e]
        }
    }

    /// Π over all other strokes of (1 − a) at each covered pixel; folds this stroke into `over`.
    func othersProduct(over: UnsafeMutablePointer<Float>, alpha: Float) -> [Float] {
        var others = [Float](repeating: 0, count: pixel.count)
        for e in pixel.indices {
            let p = Int(pixel[e])
            others[e] = beneath[e] * over[p]
            over[p] *= 1 - alpha * coverage[e]
        }
        return others
    }

    func gradient(stroke: Stroke, others: [Float], dImage: UnsafePointer<Float>) -> StrokeGradient {
        var dPoints = [SIMD2<Float>](repeating: .zero, count: stroke.points.count)
        var dWidth: Float = 0
        let alpha = stroke.clampedOpacity
        for e in pixel.indices {
            // ∂L/∂coverage for this pixel.
            let g = -dImage[Int(pixel[e])] * others[e] * alpha
            if g == 0 { continue }
            dWidth += g * dCovWidth[e]
            let gd = g * dCovDist[e]
            if gd == 0 { continue }
            // d = |c − B(t*)| with t* held fixed (envelope theorem) ⇒ ∂d/∂P_k = −n b_k(t*).
            let beta = bernstein(curveT[e])
            let n = SIMD2<Float>(normalX[e], normalY[e])
            let base = 3 * Int(segment[e])
            for k in 0..<4 { dPoints[base + k] -= gd * beta[k] * n }
        }
        return StrokeGradient(points: dPoints, halfWidth: dWidth)
    }
}

/// Refines the closest point on one cubic segment to `c` by Newton steps on
/// f(t) = (B(t) − c)·B′(t), starting from the chord estimate; keeps the estimate if a step
/// does not bring the curve closer (cusps, flat spots). `offset` is c − B(t) on return.
@inline(__always)
func closestPoint(on points: [SIMD2<Float>], segment j: Int, to c: SIMD2<Float>,
                  t: inout Float, offset: inout SIMD2<Float>) {
    let p0 = points[3 * j], p1 = points[3 * j + 1], p2 = points[3 * j + 2], p3 = points[3 * j + 3]
    // Power basis: B(t) = a t³ + b t² + k t + p0.
    let a = p3 - p0 + 3 * (p1 - p2), b = 3 * (p0 - 2 * p1 + p2), k = 3 * (p1 - p0)
    var bestT = t
    var bestE = c - (((a * t + b) * t + k) * t + p0)
    var bestD2 = (bestE * bestE).sum()
    var tt = t
    for _ in 0..<4 {
        let q = ((a * tt + b) * tt + k) * tt + p0
        let d1 = (3 * a * tt + 2 * b) * tt + k
        let d2v = 6 * a * tt + 2 * b
        let diff = q - c
        let f = (diff * d1).sum()
        let fp = (d1 * d1).sum() + (diff * d2v).sum()
        if !(fp > 1e-12) { break }
        tt = min(1, max(0, tt - f / fp))
        let e = c - (((a * tt + b) * tt + k) * tt + p0)
        let dd = (e * e).sum()
        if dd < bestD2 {
            bestD2 = dd; bestT = tt; bestE = e
        }
    }
    t = bestT
    offset = bestE
}
