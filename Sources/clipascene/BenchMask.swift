import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

extension Bench {
    /// The subject mask of a 500×500 photo (U²-Net-p, docs/algorithm.md §1): resize, network, threshold, resize back.
    func benchMask(roof: Roofline) throws {
        let store = try CheckpointStore.locate()
        let masker = try SubjectMasker(path: try store.verifiedPath(of: "u2netp"))
        ComputeThreads.set(threads)
        var gen = SeededRandom(5)
        let photo = RGBImage(width: 500, height: 500, pixels: (0..<(3 * 500 * 500)).map { _ in gen.uniform() })
        var failure: Error?
        var flops = 0.0
        func time() -> Double {
            bestTime(repeats: 3) {
                flops = 0
                do { _ = try masker.saliency(photo, convolutionFlops: &flops).thresholded(0.5) } catch { failure = error }
            }
        }
        // The direct form first (the shifted product), then Winograd (the default), in one run.
        let wasEnabled = WinogradSetting.enabled
        WinogradSetting.enabled = false
        let direct = time()
        WinogradSetting.enabled = true
        let seconds = time()
        WinogradSetting.enabled = wasEnabled
        if let failure { throw failure }
        report("\nsubject mask: U²-Net-p, 500² photo → 320² network input, \(threads) threads (target ≤ 0.5 s)")
        report("3×3 convolutions   s/mask  conv GFLOP (direct form)  roofline s  ratio")
        for (name, s) in [("direct", direct), ("Winograd F(4,3)", seconds)] {
            report(name.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "  %6.3f  %24.2f  %10.3f  %5.2f", s, flops / 1e9,
                          roof.seconds(forFlops: flops), s / roof.seconds(forFlops: flops)))
        }
        report("(Winograd needs ~1/4 of the direct form's multiplies on the layers it runs, so its ratio may be < 1)")
    }
}
