import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

extension Bench {
    /// What a sketch does before its first step, beyond the subject mask: the targets (tone
    /// balance, outline, inpainting), saliency, first strokes and the target's features, on a
    /// light photo (the bull) and a dark one (the rocket, whose tones are lifted); then the
    /// tone balance and the outline alone at the canvas size. No multiply-heavy kernel dominates, so times are
    /// given against one step of the same scene rather than the roofline.
    func benchPrepare() throws {
        let (encoder, masker) = try loadModels()
        ComputeThreads.set(threads)
        report("\nscene preparation: targets, saliency, first strokes, target features (after the mask), \(threads) threads, best of 3")
        report("photo        prepare s   one step s   prepare/step   tone balance ms   outline ms")
        let darkPhoto = ["../shared/data/rocket.jpg", "Tests/Fixtures/rocket.jpg"].first { FileManager.default.fileExists(atPath: $0) }
        for path in ["examples/bull.jpg"] + [darkPhoto].compactMap({ $0 }) {
            let photo = try loadPhoto(path)
            let mask = try MaskSource.auto.mask(for: photo, masker: masker)
            var scene: SceneSketch?
            let prepare = bestTime(repeats: 3) { scene = SceneSketch(photo: photo, subjectMask: mask, encoder: encoder, abstraction: Abstraction()) }
            guard let scene else { continue }
            let step = bestTime(repeats: 3) { scene.background.step() }
            let canvas = photo.resized(width: scene.canvasWidth, height: scene.canvasHeight).clamped()
            let tones = bestTime(repeats: 3) { _ = ToneBalance().apply(canvas) }
            let outline = bestTime(repeats: 3) { _ = TargetPreparation().outlined(canvas, mask: scene.subject) }
            let name = URL(fileURLWithPath: path).lastPathComponent.padding(toLength: 11, withPad: " ", startingAt: 0)
            report(name + String(format: "  %9.3f   %10.3f   %12.1f   %15.1f   %10.1f", prepare, step, prepare / step,
                                 tones * 1e3, outline * 1e3))
        }
    }
}
