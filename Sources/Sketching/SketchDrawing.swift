import Foundation
import Imaging
import Vector

/// Which drawing of a scene: both parts, or one alone.
public enum SketchPart: String, Sendable, CaseIterable {
    case combined, foreground, background
}

/// A scene's output at one moment: the strokes of both parts and the subject silhouette.
/// A value, so a server can hand it out while the session keeps optimising.
public struct SketchDrawing: Sendable {
    public let width: Int, height: Int
    /// The subject mask at the canvas size; nil when the scene has no subject.
    public let subject: GrayImage?
    public let foreground: [Stroke]
    public let background: [Stroke]
    /// The combined SVG's mask (everything but the subject) as PNG, when the caller already has it.
    let outsideSubjectPNG: [UInt8]?

    public init(width: Int, height: Int, subject: GrayImage?, foreground: [Stroke], background: [Stroke],
                outsideSubjectPNG: [UInt8]? = nil) {
        self.width = width
        self.height = height
        self.subject = subject
        self.foreground = foreground
        self.background = background
        self.outsideSubjectPNG = outsideSubjectPNG
    }

    /// The luminance mask that hides background strokes under the subject, as PNG bytes.
    static func outsidePNG(_ subject: GrayImage) throws -> [UInt8] {
        let outside = GrayImage(width: subject.width, height: subject.height, pixels: subject.pixels.map { 1 - $0 })
        return [UInt8](try ImageFile.pngData(outside))
    }

    public func svg(_ part: SketchPart) throws -> SVGDocument {
        switch part {
        case .combined: return try combinedSVG()
        case .foreground: return foregroundSVG()
        case .background: return backgroundSVG()
        }
    }

    /// The foreground strokes alone.
    public func foregroundSVG() -> SVGDocument {
        SVGDocument(width: Double(width), height: Double(height), groups: [SVGGroup(id: "foreground", strokes: foreground)])
    }

    public func backgroundSVG() -> SVGDocument {
        SVGDocument(width: Double(width), height: Double(height), groups: [SVGGroup(id: "background", strokes: background)])
    }

    /// Both parts in one SVG: background strokes hidden under the subject (a luminance mask
    /// of the silhouette), foreground strokes on top.
    public func combinedSVG() throws -> SVGDocument {
        var doc = SVGDocument(width: Double(width), height: Double(height), groups: [
            SVGGroup(id: "background", strokes: background, maskID: subject == nil ? nil : "outside-subject"),
            SVGGroup(id: "foreground", strokes: foreground),
        ])
        if let subject {
            doc.masks = [SVGMaskImage(id: "outside-subject", png: try outsideSubjectPNG ?? Self.outsidePNG(subject))]
        }
        return doc
    }

    /// The drawing of `part` rasterised at `scale` × the canvas, as its SVG shows it.
    public func preview(_ part: SketchPart = .combined, scale: Double = 2) -> GrayImage {
        switch part {
        case .foreground: return foregroundSVG().render(scale: scale).grayImage
        case .background: return backgroundSVG().render(scale: scale).grayImage
        case .combined: break
        }
        let bg = backgroundSVG().render(scale: scale)
        guard let subject else { return bg.grayImage }
        let fg = foregroundSVG().render(scale: scale)
        let mask = subject.resized(width: bg.width, height: bg.height, filter: .bilinear)
        var out = bg.image
        for i in out.indices {
            let m = mask.pixels[i]
            out[i] = fg.image[i] * (m + (1 - m) * bg.image[i])
        }
        return GrayImage(width: bg.width, height: bg.height, pixels: out)
    }
}
