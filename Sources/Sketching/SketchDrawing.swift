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
    /// Strokes of each part left out of the drawing: collapsed to dots or wholly off the page.
    public let omittedForeground: Int, omittedBackground: Int
    /// The combined SVG's mask (everything but the subject) as PNG, when the caller already has it.
    let outsideSubjectPNG: [UInt8]?

    /// The drawing of `foreground` and `background` less the strokes that show nothing a
    /// viewer would call a line (`drawable`); the counts of those left out are kept.
    public init(width: Int, height: Int, subject: GrayImage?, foreground: [Stroke], background: [Stroke],
                outsideSubjectPNG: [UInt8]? = nil) {
        self.width = width
        self.height = height
        self.subject = subject
        let fg = Self.drawable(foreground, width: width, height: height)
        let bg = Self.drawable(background, width: width, height: height)
        self.foreground = fg
        self.background = bg
        omittedForeground = foreground.count - fg.count
        omittedBackground = background.count - bg.count
        self.outsideSubjectPNG = outsideSubjectPNG
    }

    /// Strokes left out of the output: dots (a curve shorter than the stroke is wide, what a
    /// stroke with little to draw shrinks into) and strokes with no ink on the page.
    public static func drawable(_ strokes: [Stroke], width: Int, height: Int) -> [Stroke] {
        strokes.filter { !$0.isDot && $0.reachesPage(width: Float(width), height: Float(height)) }
    }

    /// Strokes left out of both parts.
    public var omittedStrokes: Int { omittedForeground + omittedBackground }

    /// Strokes left out of what `svg(part)` shows.
    public func omittedStrokes(_ part: SketchPart) -> Int {
        switch part {
        case .combined: omittedStrokes
        case .foreground: omittedForeground
        case .background: omittedBackground
        }
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
        SVGDocument(width: Double(width), height: Double(height), groups: [SVGGroup(id: "foreground", strokes: foreground,
                                                                                     omittedStrokes: omittedForeground)])
    }

    public func backgroundSVG() -> SVGDocument {
        SVGDocument(width: Double(width), height: Double(height), groups: [SVGGroup(id: "background", strokes: background,
                                                                                     omittedStrokes: omittedBackground)])
    }

    /// Both parts in one SVG: background strokes hidden under the subject (a luminance mask
    /// of the silhouette), foreground strokes on top.
    public func combinedSVG() throws -> SVGDocument {
        var doc = SVGDocument(width: Double(width), height: Double(height), groups: [
            SVGGroup(id: "background", strokes: background, maskID: subject == nil ? nil : "outside-subject",
                     omittedStrokes: omittedBackground),
            SVGGroup(id: "foreground", strokes: foreground, omittedStrokes: omittedForeground),
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
