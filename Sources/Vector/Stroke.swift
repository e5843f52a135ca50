/// A black stroke along one or more joined cubic Bézier segments.
///
/// `points` holds 1 + 3·segments control points in pixel coordinates (origin top-left,
/// y down): P0, then (C1, C2, P) per segment. `halfWidth` is diffvg's `stroke_width`
/// (the SVG `stroke-width` is twice it). Caps and joins are round.
public struct Stroke: Sendable, Equatable, Codable {
    public var points: [SIMD2<Float>]
    public var halfWidth: Float
    public var opacity: Float

    public init(points: [SIMD2<Float>], halfWidth: Float = 1.5, opacity: Float = 1) {
        precondition(points.count >= 4 && (points.count - 1) % 3 == 0,
                     "a stroke needs 1 + 3·n control points, got \(points.count)")
        self.points = points
        self.halfWidth = halfWidth
        self.opacity = opacity
    }

    public var segmentCount: Int { (points.count - 1) / 3 }

    /// True when every number is finite, so the stroke can be drawn.
    public var isFinite: Bool {
        halfWidth.isFinite && opacity.isFinite && points.allSatisfy { $0.x.isFinite && $0.y.isFinite }
    }

    /// The point at parameter `t` ∈ [0,1] of segment `segment`.
    public func point(segment: Int, t: Float) -> SIMD2<Float> {
        let b = bernstein(t)
        let i = 3 * segment
        return b.x * points[i] + b.y * points[i + 1] + b.z * points[i + 2] + b.w * points[i + 3]
    }

    /// The length of the control polygon: an upper bound on the drawn curve's length.
    public var controlPolygonLength: Float {
        zip(points, points.dropFirst()).reduce(0) { $0 + (($1.1 - $1.0) * ($1.1 - $1.0)).sum().squareRoot() }
    }

    /// True when the stroke draws a blob rather than a line: its curve is shorter than the
    /// stroke is wide (the control polygon, which bounds the curve, is shorter than 2·halfWidth).
    public var isDot: Bool { controlPolygonLength < 2 * halfWidth }

    /// True when some of the stroke's ink can fall on a `width` × `height` page: the control
    /// points' bounding box (which holds the curve), grown by the half-width, meets the page.
    public func reachesPage(width: Float, height: Float) -> Bool {
        let lo = points.reduce(SIMD2<Float>(repeating: .infinity)) { pointwiseMin($0, $1) } - halfWidth
        let hi = points.reduce(SIMD2<Float>(repeating: -.infinity)) { pointwiseMax($0, $1) } + halfWidth
        return halfWidth > 0 && opacity > 0 && lo.x < width && lo.y < height && hi.x > 0 && hi.y > 0
    }

    /// The same stroke with every coordinate and the width multiplied by `s`.
    public func scaled(by s: Float) -> Stroke {
        Stroke(points: points.map { $0 * s }, halfWidth: halfWidth * s, opacity: opacity)
    }
}

/// Cubic Bernstein weights (1−t)³, 3t(1−t)², 3t²(1−t), t³.
@inline(__always)
func bernstein(_ t: Float) -> SIMD4<Float> {
    let s = 1 - t
    return SIMD4(s * s * s, 3 * t * s * s, 3 * t * t * s, t * t * t)
}

/// Gradients of a scalar loss with respect to one stroke's parameters.
public struct StrokeGradient: Sendable, Equatable {
    public var points: [SIMD2<Float>]
    public var halfWidth: Float

    public init(points: [SIMD2<Float>], halfWidth: Float) {
        self.points = points
        self.halfWidth = halfWidth
    }
}
