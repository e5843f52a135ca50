import Foundation
import Imaging
import Models
import Vector

/// A whole scene: the subject and the background sketched separately (spec §1) and combined.
public final class SceneSketch: @unchecked Sendable {
    public let photo: RGBImage
    public let canvasWidth: Int, canvasHeight: Int
    /// Subject mask at the canvas size (1 = subject).
    public let subject: GrayImage
    public let foregroundTarget: RGBImage
    public let backgroundTarget: RGBImage
    public let foreground: PartSketcher?
    public let background: PartSketcher

    /// A subject smaller than this fraction of the canvas is ignored (the scene is all background).
    public static let minimumSubject: Float = 0.005

    /// `subjectMask` is at the photo's size; the canvas keeps the photo's aspect ratio with
    /// its long side `canvas` pixels.
    public init(photo: RGBImage, subjectMask: GrayImage?, encoder: EfficientNetLite0, settings: PartSettings,
                canvas: Int = 224) {
        self.photo = photo
        let scale = Float(canvas) / Float(max(photo.width, photo.height))
        canvasWidth = max(8, Int((Float(photo.width) * scale).rounded()))
        canvasHeight = max(8, Int((Float(photo.height) * scale).rounded()))
        let target = photo.resized(width: canvasWidth, height: canvasHeight).clamped()
        let mask = subjectMask?.resized(width: canvasWidth, height: canvasHeight, filter: .bilinear).thresholded()
            ?? GrayImage(width: canvasWidth, height: canvasHeight, value: 0)
        subject = mask
        // Foreground target: the subject on white. Background: the subject region filled in.
        var fg = target
        let plane = canvasWidth * canvasHeight
        for i in 0..<plane where mask.pixels[i] < 0.5 { for c in 0..<3 { fg.pixels[c * plane + i] = 1 } }
        foregroundTarget = fg
        backgroundTarget = target.inpainted(hole: mask.dilated(radius: 2))
        if mask.coverage >= Self.minimumSubject {
            var fgSettings = settings
            fgSettings.seed = settings.seed &+ 1
            foreground = PartSketcher(target: fg, saliency: Saliency.map(fg, encoder: encoder), encoder: encoder,
                                      settings: fgSettings)
        } else {
            foreground = nil
        }
        background = PartSketcher(target: backgroundTarget, saliency: Saliency.map(backgroundTarget, encoder: encoder),
                                  encoder: encoder, settings: settings)
    }

    public var parts: [PartSketcher] { [foreground, background].compactMap { $0 } }

    /// Moves both parts to simplicity level `level` (1…7): ratio r₁·2^(−level·div), with the
    /// division factor of the reference for this part and fidelity level (spec §5).
    public func beginSimplicity(level: Int, fidelity: Int) {
        if let fg = foreground {
            fg.beginSimplicity(ratio: fg.firstRatio * SimplicityLevels.ratioFactor(level: level, division: SimplicityLevels.foregroundDivision[fidelity]))
        }
        background.beginSimplicity(ratio: background.firstRatio * SimplicityLevels.ratioFactor(level: level, division: SimplicityLevels.backgroundDivision[fidelity]))
    }

    /// The foreground strokes alone.
    public func foregroundSVG() -> SVGDocument {
        SVGDocument(width: Double(canvasWidth), height: Double(canvasHeight),
                    groups: [SVGGroup(id: "foreground", strokes: foreground?.outputStrokes ?? [])])
    }

    public func backgroundSVG() -> SVGDocument {
        SVGDocument(width: Double(canvasWidth), height: Double(canvasHeight),
                    groups: [SVGGroup(id: "background", strokes: background.outputStrokes)])
    }

    /// Both parts in one SVG: background strokes hidden under the subject (a luminance mask
    /// of the silhouette), foreground strokes on top.
    public func combinedSVG() throws -> SVGDocument {
        var doc = SVGDocument(width: Double(canvasWidth), height: Double(canvasHeight), groups: [
            SVGGroup(id: "background", strokes: background.outputStrokes, maskID: foreground == nil ? nil : "outside-subject"),
            SVGGroup(id: "foreground", strokes: foreground?.outputStrokes ?? []),
        ])
        if foreground != nil {
            let outside = GrayImage(width: subject.width, height: subject.height, pixels: subject.pixels.map { 1 - $0 })
            doc.masks = [SVGMaskImage(id: "outside-subject", png: [UInt8](try ImageFile.pngData(outside)))]
        }
        return doc
    }

    /// The combined drawing rasterised at `scale` × the canvas, as the combined SVG shows it.
    public func preview(scale: Double = 2) -> GrayImage {
        let bg = backgroundSVG().render(scale: scale)
        guard foreground != nil else { return bg.grayImage }
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
