import ArgumentParser
import Foundation
import Imaging
import Models
import Sketching
import Tensors
import Vector

struct Sketch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sketch a photo: writes SVG and PNG files into --out.")

    @Argument(help: "A PNG or JPEG photo.")
    var image: String

    @Option(name: [.customLong("strokes"), .customLong("paths")], help: "Number of strokes (--paths is the older spelling).")
    var strokes: Int = 64

    @Option(help: "Stroke width in the SVG, in pixels of the 224-pixel canvas.")
    var strokeWidth: Float = 3

    @Option(help: "Fidelity level 0 (precise) … 3 (loose).")
    var fidelity: Int = 0

    @Option(help: "Optimisation steps per part (foreground and background).")
    var iterations: Int = 200

    @Option(help: "Simplicity level 0 (all strokes) … 7 (sparsest).")
    var simplicity: Int = 0

    @Option(help: "Optimisation steps per part for each simplicity level.")
    var simplicityIterations: Int = 100

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Adam learning rate of the points MLP.")
    var learningRate: Float = 1e-4

    @Option(help: "Augmented views per step (the reference uses 4).")
    var augmentations: Int = 4

    @Option(help: "Compare this encoder block (efficientnet-lite0: 1…15, clip-vit-b32: 0…11) instead of the fidelity level's blocks.")
    var depth: Int?

    @Option(help: "Perceptual encoder (\(EncoderKind.namesList)).")
    var encoder: String = EncoderKind.default.rawValue

    @Option(help: "Subject mask: auto (U²-Net-p), none (all background) or a mask image (white = subject; black or transparent = background).")
    var mask: String = "auto"

    @Option(help: "Background target: auto (the subject region inpainted) or an image.")
    var background: String = "auto"

    @Option(help: "Output folder.")
    var out: String = "out/sketch"

    var abstraction: Abstraction {
        var a = Abstraction()
        a.strokes = strokes
        a.strokeWidth = strokeWidth
        a.fidelity = fidelity
        a.simplicity = simplicity
        a.seed = seed
        a.iterations = iterations
        a.simplicityIterations = simplicityIterations
        a.learningRate = learningRate
        a.augmentations = augmentations
        a.depth = depth
        return a
    }

    /// Checked before any model loads, with the engine's own rules and messages.
    func validate() throws {
        guard let profile = EncoderKind(rawValue: encoder).map(EncoderProfile.of) else {
            throw ValidationError("--encoder must be one of: \(EncoderKind.namesList); got '\(encoder)'")
        }
        do { try abstraction.validate(depths: profile.depthRange) } catch let e as AbstractionError { throw ValidationError(e.description) }
    }

    func run() throws {
        // Where the files go is checked before any work (a file named by --out used to be
        // found only after the whole optimisation).
        try AtomicFile.prepareFolder(out, files: SketchPart.allCases.map { "\($0.rawValue).svg" } + ["preview.png", "mask.png"])
        let photo = try loadPhoto(image)
        let backgroundImage: RGBImage?
        do { backgroundImage = try BackgroundSource(background).image() } catch let e as ImageError {
            throw UserFacingError(description: "--background: \(e.description)")
        }
        let started = Date()
        let (encoder, masker) = try loadModels(encoder: self.encoder)
        let mask: GrayImage
        do { mask = try MaskSource(self.mask).mask(for: photo, masker: masker) } catch let e as ImageError {
            throw UserFacingError(description: "--mask: \(e.description)")
        } catch let e as MaskMismatch {
            throw UserFacingError(description: "--mask: \(e.description)")
        }
        let session = try SketchSession(photo: photo, subjectMask: mask, background: backgroundImage, encoder: encoder,
                                        abstraction: abstraction)
        let scene = session.scene
        let prepared = Date()
        let progress = ProgressLine(total: session.totalSteps)
        session.step(session.totalSteps, onStep: { progress.update(step: $0, loss: $1) })
        let done = session.stepsDone
        progress.finish()
        let drawing = scene.drawing
        try writeSketchFiles(drawing, mask: mask, to: out)
        let omitted = drawing.omittedStrokes == 0 ? ""
            : "; \(drawing.omittedStrokes) stroke\(drawing.omittedStrokes == 1 ? "" : "s") collapsed to dots or off the page left out"
        let summary = String(format: "subject %@; prepared in %.1f s, %d steps in %.1f s on OpenBLAS's %@ kernels%@; wrote %@/{combined,foreground,background}.svg, preview.png, mask.png\n",
                             scene.foreground == nil ? "not found (all background)" : String(format: "covers %.0f%%", scene.subject.coverage * 100),
                             prepared.timeIntervalSince(started), done, Date().timeIntervalSince(prepared), BLASKernels.current, omitted, out)
        FileHandle.standardError.write(Data(summary.utf8))
    }
}

/// A one-line progress report on stderr: step, loss, rate and time left. Redrawn in place
/// on a terminal; one line per tenth of the work when stderr is a file or a pipe.
final class ProgressLine {
    let total: Int
    let start = Date()
    var lastDraw = Date.distantPast
    let interactive = isatty(2) != 0
    var lastTenth = -1

    init(total: Int) { self.total = total }

    func update(step: Int, loss: Float) {
        let now = Date()
        if interactive {
            guard now.timeIntervalSince(lastDraw) > 0.2 || step == total else { return }
        } else {
            let tenth = step * 10 / max(1, total)
            guard tenth != lastTenth else { return }
            lastTenth = tenth
        }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let eta = elapsed / Double(step) * Double(total - step)
        let width = 30, filled = width * step / max(1, total)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "%@[%@] %d/%d  loss %.4f  %.2f s/step  ETA %.0f s%@", interactive ? "\r" : "", bar, step,
                          total, loss, elapsed / Double(step), eta, interactive ? " " : "\n")
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }
}
