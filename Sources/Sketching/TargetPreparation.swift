import Foundation
import Imaging

/// What the engine does to a scene's targets beyond the reference's split (subject on white,
/// background filled in), each measured on the quality benchmark (docs/quality.md).
public struct TargetPreparation: Sendable, Equatable {
    /// Lifts the tones of a dark photo (and of a dark user-given background) before the split,
    /// so thin dark structures against a night sky can be drawn; nil: tones are kept.
    public var toneBalance: ToneBalance? = ToneBalance()
    /// The grey of a one-pixel line drawn just outside the subject's silhouette in the
    /// foreground target; nil: none. On white, a light subject (a white rocket, a pale shirt)
    /// has no edge where it meets the page, so nothing tells its strokes where the outline is.
    public var subjectOutline: Float? = 0.3

    public init() {}

    /// `foreground` (the subject on white) with the outline drawn around `mask`.
    public func outlined(_ foreground: RGBImage, mask: GrayImage) -> RGBImage {
        guard let grey = subjectOutline else { return foreground }
        var out = foreground
        let plane = out.planeSize
        let ring = mask.dilated(radius: 1)
        for i in 0..<plane where mask.pixels[i] < 0.5 && ring.pixels[i] >= 0.5 {
            for c in 0..<3 { out.pixels[c * plane + i] = min(out.pixels[c * plane + i], grey) }
        }
        return out
    }
}
