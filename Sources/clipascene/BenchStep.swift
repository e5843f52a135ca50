import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

extension Bench {
    /// Whole optimisation steps of the bull's two parts (the subject under GradNorm, the
    /// background plain), with the time of each phase: where a step goes besides the encoder.
    func benchStep() throws {
        let photo = try loadPhoto("examples/bull.jpg")
        let (encoder, masker) = try loadModels()
        let mask = try MaskSource.auto.mask(for: photo, masker: masker)
        let scene = SceneSketch(photo: photo, subjectMask: mask, encoder: encoder, abstraction: Abstraction())
        ComputeThreads.set(threads)
        let steps = 10
        report("\nsketch step: bull, \(scene.canvasWidth)×\(scene.canvasHeight) canvas, 64 strokes, \(threads) threads, "
               + "mean of \(steps) steps after 2 (the encoder's own ratio to the roofline: `bench encoder`)")
        report("part         s/step  " + StepTimings.phases.map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined())
        for (name, part) in zip(scene.foreground == nil ? ["background"] : ["subject", "background"], scene.parts) {
            part.step(count: 2)
            let before = part.timings
            let t0 = DispatchTime.now().uptimeNanoseconds
            part.step(count: steps)
            let perStep = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(steps)
            let cells = StepTimings.phases.map { phase -> String in
                let ms = ((part.timings.seconds[phase] ?? 0) - (before.seconds[phase] ?? 0)) / Double(steps) * 1e3
                return String(format: "%5.1f ms %3.0f%%", ms, ms / 1e3 / perStep * 100).padding(toLength: 14, withPad: " ", startingAt: 0)
            }
            report(name.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "  %6.3f  ", perStep) + cells.joined())
        }
    }
}
