import Foundation
import Imaging
import Models
import Vector

/// A whole scene: the subject and the background sketched separately (docs/algorithm.md §1) and combined.
public final class SceneSketch: @unchecked Sendable {
    public let photo: RGBImage
    public let canvasWidth: Int, canvasHeight: Int
    /// Subject mask at the canvas size (1 = subject).
    public let subject: GrayImage
    public let foregroundTarget: RGBImage
    public let backgroundTarget: RGBImage
    public let foreground: PartSketcher?
    public let background: PartSketcher
    /// Set when the subject was enlarged for the foreground part (docs/algorithm.md §1).
    public let objectResize: ObjectResize?
    /// The combined SVG's subject mask, encoded once (a server hands out many drawings).
    let outsideSubjectPNG: [UInt8]?

    /// A subject smaller than this fraction of the canvas is ignored (the scene is all background).
    public static let minimumSubject: Float = 0.005

    /// `subjectMask` is at the photo's size; the canvas keeps the photo's aspect ratio with
    /// its long side `canvas` pixels.
    /// `background`, when given, replaces the inpainted background target (resized to the canvas).
    public init(photo: RGBImage, subjectMask: GrayImage?, background: RGBImage? = nil, encoder: any PerceptualEncoder,
                abstraction: Abstraction, canvas: Int? = nil, preparation: TargetPreparation = TargetPreparation()) {
        let settings = abstraction.resolve(EncoderProfile.of(encoder))
        // An encoder with a fixed input (CLIP) sets the canvas: the long side is its side.
        let canvas = canvas ?? encoder.requiredSide ?? 224
        self.photo = photo
        let scale = Float(canvas) / Float(max(photo.width, photo.height))
        canvasWidth = max(8, Int((Float(photo.width) * scale).rounded()))
        canvasHeight = max(8, Int((Float(photo.height) * scale).rounded()))
        var target = photo.resized(width: canvasWidth, height: canvasHeight).clamped()
        if let tones = preparation.toneBalance { target = tones.apply(target) }
        let mask = subjectMask?.resized(width: canvasWidth, height: canvasHeight, filter: .bilinear).thresholded()
            ?? GrayImage(width: canvasWidth, height: canvasHeight, value: 0)
        subject = mask
        // Foreground target: the subject on white. Background: the subject region filled in.
        var fg = target
        let plane = canvasWidth * canvasHeight
        for i in 0..<plane where mask.pixels[i] < 0.5 { for c in 0..<3 { fg.pixels[c * plane + i] = 1 } }
        fg = preparation.outlined(fg, mask: mask)
        // A lone small subject is enlarged for its strokes (the reference's resize_obj); the
        // drawing maps them back.
        objectResize = mask.coverage >= Self.minimumSubject ? ObjectResize.plan(mask: mask) : nil
        if let resize = objectResize { fg = resize.apply(to: fg) }
        let backdrop: RGBImage
        if let given = background?.resized(width: canvasWidth, height: canvasHeight).clamped() {
            backdrop = preparation.toneBalance?.apply(given) ?? given
        } else {
            backdrop = target.inpainted(hole: mask.dilated(radius: 2))
        }
        backgroundTarget = backdrop
        foregroundTarget = fg
        outsideSubjectPNG = mask.coverage >= Self.minimumSubject ? try? SketchDrawing.outsidePNG(mask) : nil
        if mask.coverage >= Self.minimumSubject {
            foreground = PartSketcher(target: fg, saliency: Saliency.map(fg, encoder: encoder), encoder: encoder,
                                      settings: settings.foreground)
        } else {
            foreground = nil
        }
        self.background = PartSketcher(target: backgroundTarget, saliency: Saliency.map(backgroundTarget, encoder: encoder),
                                  encoder: encoder, settings: settings.background)
    }

    public var parts: [PartSketcher] { [foreground, background].compactMap { $0 } }

    /// The same photo under `abstraction`, started again: what a new scene would be, without
    /// preparing the targets, saliency and first strokes again when they do not change (same
    /// stroke count and seed: a change of fidelity, width, schedule, views or learning rate);
    /// nil when they would.
    public func restarted(with abstraction: Abstraction, previous: Abstraction, profile: EncoderProfile) -> SceneSketch? {
        guard abstraction.strokes == previous.strokes, abstraction.seed == previous.seed else { return nil }
        let settings = abstraction.resolve(profile)
        return SceneSketch(sharing: self, foreground: foreground?.restarted(with: settings.foreground),
                           background: background.restarted(with: settings.background))
    }

    /// An independent copy: the parts' states copied, the prepared targets shared.
    public func copy() -> SceneSketch { SceneSketch(sharing: self, foreground: foreground?.copy(), background: background.copy()) }

    /// `s`'s photo and prepared targets with other parts.
    private init(sharing s: SceneSketch, foreground: PartSketcher?, background: PartSketcher) {
        (photo, canvasWidth, canvasHeight, subject) = (s.photo, s.canvasWidth, s.canvasHeight, s.subject)
        (foregroundTarget, backgroundTarget, objectResize, outsideSubjectPNG) = (s.foregroundTarget, s.backgroundTarget, s.objectResize, s.outsideSubjectPNG)
        (self.foreground, self.background) = (foreground, background)
    }

    /// Moves both parts to simplicity level `level` (1…7): ratio r₁·2^(−level·div), with each
    /// part's division factor (docs/algorithm.md §5).
    public func beginSimplicity(level: Int) {
        for part in parts {
            part.beginSimplicity(ratio: part.firstRatio * SimplicityLevels.ratioFactor(level: level, division: part.settings.simplicityDivision))
        }
    }

    /// The current output as a value: safe to keep and draw while the optimisation moves on.
    public var drawing: SketchDrawing { drawing(lastStep: false) }

    /// The output, or with `lastStep` what the current parameters draw even where a finished
    /// simplicity level shows its selected evaluation (LevelSelection).
    public func drawing(lastStep: Bool) -> SketchDrawing {
        func strokes(_ part: PartSketcher) -> [Stroke] { lastStep ? part.lastStepStrokes : part.outputStrokes }
        return SketchDrawing(width: canvasWidth, height: canvasHeight, subject: foreground == nil ? nil : subject,
                             foreground: (foreground.map(strokes) ?? []).map { objectResize?.inverse($0) ?? $0 },
                             background: strokes(background), outsideSubjectPNG: outsideSubjectPNG)
    }
}
