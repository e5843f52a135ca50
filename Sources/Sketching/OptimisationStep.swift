import Foundation
import Imaging
import Models
import Tensors
import Vector

/// What one step draws at random, in the order the part's generator draws it: each stroke's
/// logistic noise (simplicity axis only, else empty), then one warp per augmented view.
public struct StepRandomness: Sendable {
    public var noise: [Float]
    public var warps: [Warp]
    public init(noise: [Float], warps: [Warp]) {
        self.noise = noise
        self.warps = warps
    }
}

/// Phase 1's result: the points MLP's strokes (under the simplicity axis with drawn widths), rendered.
struct DrawnStrokes {
    let points: MLP.Trace
    let strokes: [Stroke]
    let widths: DrawnWidths?
    let raster: Raster
}

/// The simplicity axis's part of phase 1: keep-probabilities and each stroke's draw (0 off canvas).
struct DrawnWidths {
    let trace: MLP.Trace
    let draws: [Float]
    var probabilities: [Float] { trace.output }
}

/// Phase 2's result: the clean and warped views of the sketch and the warped views of the
/// target, normalised, channel-major [3][view][plane], before framing.
struct StepViews {
    let sketch: FeatureMap
    let target: FeatureMap?
}

/// Phase 3's result: the encoder's passes over both batches (the sketch's kept for backward).
struct EncodedViews {
    let sketch: EncoderPass
    let target: EncoderPass?
}

/// Phase 4's result: the perceptual loss per compared block, and its feature gradients.
struct BlockLosses {
    /// Over all views, weighted, summed over blocks.
    var total: Float = 0
    /// The clean view's share of `total` (what the step reports).
    var clean: Float = 0
    /// Over all views, weighted.
    var perBlock: [Int: Float] = [:]
    /// The clean view's, un-weighted.
    var cleanPerBlock: [Int: Float] = [:]
    var gradients: [Int: FeatureMap] = [:]
}

/// The perceptual terms the simplicity axis balances: one per compared block under GradNorm
/// (the foreground, docs/algorithm.md §4–5), otherwise their weighted sum. `rawScale` turns a
/// term back into the un-weighted loss the ratio compares; `rawTotal` is that loss.
struct PerceptualTerms {
    let strokeGradients: [[StrokeGradient]]
    let rawScale: [Float]
    let rawTotal: Float
}

/// One optimisation step as named phases (docs/algorithm.md §6): render → views → encode →
/// loss → backward → balance → update. Each phase's backward sits beside it.
extension PartSketcher {
    /// The next step's randomness from the part's generator.
    func drawRandomness() -> StepRandomness {
        var noise: [Float] = []
        if let simp = simplicity {
            for _ in simp.onCanvas.indices { noise.append(RelaxedBernoulli.noise(&rng)) }
        }
        var warps: [Warp] = []
        for _ in 0..<settings.augmentations { warps.append(Warp.random(width: width, height: height, rng: &rng)) }
        return StepRandomness(noise: noise, warps: warps)
    }

    func singleStep(_ randomness: StepRandomness) {
        simplicity?.selected = nil   // the live state is shown again once a new level runs
        var clock = DispatchTime.now().uptimeNanoseconds
        let drawn = drawStrokes(noise: randomness.noise)
        clock = timings.record("strokes", since: clock)
        let views = makeViews(drawn.raster, warps: randomness.warps)
        clock = timings.record("views", since: clock)
        let encoded = encode(views)
        clock = timings.record("encode", since: clock)
        let losses = compare(encoded)
        clock = timings.record("loss", since: clock)
        lastBlockLosses = losses.cleanPerBlock.keys.sorted().map { losses.cleanPerBlock[$0] ?? 0 }
        let backward = { (gradients: [Int: FeatureMap]) in
            self.strokeGradients(gradients, encoded: encoded, warps: randomness.warps, raster: drawn.raster)
        }
        if simplicity == nil && settings.gradNorm && losses.gradients.count > 1 {
            updatePointsBalancingBlocks(drawn, losses, backward: backward)
        } else {
            let terms = perceptualTerms(losses, backward: backward)
            var scales = [Float](repeating: 1, count: terms.strokeGradients.count)
            if let widths = drawn.widths { scales = balanceWidths(widths, terms: terms) }
            updatePoints(drawn, terms: terms, scales: scales)
        }
        finishStep(strokes: drawn.strokes, cleanLoss: losses.clean, total: losses.total, since: clock)
    }

    // MARK: 1. Render

    func drawStrokes(noise: [Float]) -> DrawnStrokes {
        let trace = mlp.forward(mlpInput)
        var strokes = self.strokes(from: trace.output)
        var widths: DrawnWidths? = nil
        if let simp = simplicity {
            let wt = simp.mlp.forward(simp.input)
            let probs = wt.output, bernoulli = relaxedBernoulli
            let draws = probs.indices.map { bernoulli.draw(probs[$0], noise: noise[$0]) * simp.onCanvas[$0] }
            for i in strokes.indices { strokes[i].halfWidth = draws[i] * settings.halfWidth }
            widths = DrawnWidths(trace: wt, draws: draws)
        }
        return DrawnStrokes(points: trace, strokes: strokes, widths: widths,
                            raster: Raster.render(strokes, width: width, height: height))
    }

    /// Backward of the points: ∂L/∂(points MLP output) from stroke gradients, scaled
    /// (the output moves a point by 0.1 · half the canvas side).
    func pointsOutputGradient(_ dStrokes: [StrokeGradient], scale: Float) -> [Float] {
        var dOut = [Float](repeating: 0, count: mlpInput.count)
        var i = 0
        let w = Float(width), h = Float(height)
        for g in dStrokes {
            for p in g.points {
                dOut[i] = scale * p.x * 0.1 * w / 2
                dOut[i + 1] = scale * p.y * 0.1 * h / 2
                i += 2
            }
        }
        return dOut
    }

    // MARK: 2. Views

    /// The sketch's clean and warped views and the target's warped views, normalised per
    /// channel. The ink is gray, so each sketch view warps one plane (not three identical ones).
    func makeViews(_ raster: Raster, warps: [Warp]) -> StepViews {
        StepViews(sketch: normalisedViews(of: raster.image, planes: 1, warps: warps, withClean: true),
                  target: warps.isEmpty ? nil : normalisedViews(of: target.pixels, planes: 3, warps: warps, withClean: false))
    }

    /// Views of a canvas-sized image (1 gray plane, or 3), channel-major [3][view][plane] in the
    /// encoder's normalisation: the image itself first if `withClean`, then one per warp. Views
    /// run on the workers, each into its own planes.
    func normalisedViews(of image: [Float], planes: Int, warps: [Warp], withClean: Bool) -> FeatureMap {
        let plane = width * height, batch = warps.count + (withClean ? 1 : 0)
        let mean = normalisation.mean, std = normalisation.std
        var out = [Float](unspecified: 3 * batch * plane)
        image.withUnsafeBufferPointer { ib in out.withUnsafeMutableBufferPointer { ob in
            guard let i0 = ib.baseAddress, let o0 = ob.baseAddress else { return }
            let (source, views) = (UncheckedSendable(i0), UncheckedSendable(o0))
            parallelFor(batch) { jobs in
                var warped = [Float](unspecified: planes * plane)
                warped.withUnsafeMutableBufferPointer { wb in
                    guard let scratch = wb.baseAddress else { return }
                    for v in jobs {
                        let w = withClean ? v - 1 : v   // the warp of view v, −1 for the clean view
                        if w >= 0 { warps[w].apply(source.value, planes: planes, into: scratch) }
                        let view = w >= 0 ? UnsafePointer(scratch) : source.value
                        for c in 0..<3 {
                            let src = view + (planes == 1 ? 0 : c * plane), dst = views.value + (c * batch + v) * plane
                            for i in 0..<plane { dst[i] = (src[i] - mean[c]) / std[c] }
                        }
                    }
                }
            }
        } }
        return FeatureMap(channels: 3, batch: batch, height: height, width: width, data: out)
    }

    /// Backward of the sketch views: ∂L/∂canvas from ∂L/∂(normalised views). Each view's
    /// three channel gradients fold into one gray plane first (the warp is the same linear
    /// map on every plane), then go back through its warp; views run on the workers into
    /// their own planes, summed in view order (deterministic).
    func canvasGradient(_ dInput: FeatureMap, warps: [Warp]) -> [Float] {
        let plane = width * height, views = warps.count, std = normalisation.std
        var perView = [Float](unspecified: (views + 1) * plane)
        dInput.data.withUnsafeBufferPointer { db in perView.withUnsafeMutableBufferPointer { pb in
            guard let d0 = db.baseAddress, let p0 = pb.baseAddress else { return }
            let (d, out) = (UncheckedSendable(d0), UncheckedSendable(p0))
            parallelFor(views + 1) { jobs in
                var gray = [Float](unspecified: plane)
                for v in jobs {
                    let target = out.value + v * plane
                    gray.withUnsafeMutableBufferPointer { gb in
                        guard let scratch = gb.baseAddress else { return }
                        let g = v == 0 ? target : scratch   // the clean view needs no warp
                        let r = d.value + v * plane, channel = (views + 1) * plane
                        for i in 0..<plane { g[i] = r[i] / std[0] + r[channel + i] / std[1] + r[2 * channel + i] / std[2] }
                        if v > 0 {
                            target.update(repeating: 0, count: plane)
                            warps[v - 1].backward(g, planes: 1, into: target)
                        }
                    }
                }
            }
        } }
        var dImage = [Float](perView[0..<plane])
        for v in stride(from: 1, through: views, by: 1) {
            for i in 0..<plane { dImage[i] += perView[v * plane + i] }
        }
        return dImage
    }

    // MARK: 3. Encode

    func encode(_ views: StepViews) -> EncodedViews {
        let deepest = settings.layers.deepest
        // The target first: its pass keeps only the compared blocks' features, so its
        // activations are gone before the sketch's trace (kept for the backward) is built, and
        // a step's peak memory is the trace alone (two parts step at once).
        let target = views.target.map { encoder.encode(framing.frame($0), through: deepest, keepTrace: false) }
        return EncodedViews(sketch: encoder.encode(framing.frame(views.sketch), through: deepest, keepTrace: true),
                            target: target)
    }

    // MARK: 4. Loss

    /// Each compared block's loss: the sketch's views against the target's (the clean
    /// target's features cached at the start), in the same [C][view][plane] layout.
    func compare(_ encoded: EncodedViews) -> BlockLosses {
        var out = BlockLosses()
        for (block, weight) in settings.layers.inBlockOrder {
            let s = encoded.sketch.features(at: block)
            let views = s.batch - 1   // the clean view first, then the augmented ones
            var t = s
            let cols = s.plane
            guard let clean = cleanTargetFeatures[block] else { preconditionFailure("block \(block)'s target features were not cached") }
            let targetFeatures = encoded.target?.features(at: block)   // laid out on each call: once per block
            t.data.withUnsafeMutableBufferPointer { tb in clean.data.withUnsafeBufferPointer { cb in
                guard let tp = tb.baseAddress, let cp = cb.baseAddress else { return }
                for c in 0..<s.channels { (tp + c * (views + 1) * cols).update(from: cp + c * cols, count: cols) }
                targetFeatures?.data.withUnsafeBufferPointer { vb in
                    guard let vp = vb.baseAddress else { return }
                    for c in 0..<s.channels {   // each channel's views are one run in both layouts
                        (tp + (c * (views + 1) + 1) * cols).update(from: vp + c * views * cols, count: views * cols)
                    }
                }
            } }
            let (loss, grad, unaugmented) = PerceptualLoss.lossAndGradient(sketch: s, target: t, weight: weight,
                                                                                channelNormalised: channelNormalisedLoss)
            out.total += loss
            out.clean += unaugmented
            out.cleanPerBlock[block] = weight > 0 ? unaugmented / weight : unaugmented
            out.gradients[block] = grad
            out.perBlock[block] = loss
        }
        return out
    }

    // MARK: 5. Backward

    /// ∂L/∂strokes for the losses behind `gradients`: back through the encoder, the framing,
    /// the normalisation and the views to the gray canvas, then the rasteriser.
    func strokeGradients(_ gradients: [Int: FeatureMap], encoded: EncodedViews, warps: [Warp], raster: Raster) -> [StrokeGradient] {
        let dInput = framing.unframe(encoder.inputGradient(encoded.sketch, gradients: gradients))
        return raster.backward(canvasGradient(dInput, warps: warps))
    }

    // MARK: 6. Balance

    /// The perceptual terms for the points and width MLPs (see `PerceptualTerms`).
    func perceptualTerms(_ losses: BlockLosses, backward: ([Int: FeatureMap]) -> [StrokeGradient]) -> PerceptualTerms {
        let blocks = losses.gradients.sorted { $0.key < $1.key }
        guard simplicity != nil && settings.gradNorm && blocks.count > 1 else {
            return PerceptualTerms(strokeGradients: [backward(losses.gradients)], rawScale: [1], rawTotal: losses.total)
        }
        let weightOf = { (block: Int) in self.settings.layers.weights[block] ?? 1 }
        return PerceptualTerms(strokeGradients: blocks.map { backward([$0.key: $0.value]) },
                               rawScale: blocks.map { 1 / weightOf($0.key) },
                               rawTotal: blocks.reduce(Float(0)) { $0 + (losses.perBlock[$1.key] ?? 0) / weightOf($1.key) })
    }

    /// The simplicity axis's balance (docs/algorithm.md §5): GradNorm over the width MLP's
    /// gradients of the perceptual terms and the width loss, plus the ratio loss
    /// (widthLoss − ratio · perceptual)². Updates the width MLP; returns how much of each
    /// perceptual term reaches the points (its GradNorm weight plus the ratio loss's pull).
    func balanceWidths(_ widths: DrawnWidths, terms: PerceptualTerms) -> [Float] {
        guard var simp = simplicity else { return [Float](repeating: 1, count: terms.strokeGradients.count) }
        let probs = widths.probabilities, draws = widths.draws
        let n = simp.onCanvasCount
        let widthLoss = draws.reduce(0, +) / n
        let bernoulli = relaxedBernoulli
        let chain = probs.indices.map { bernoulli.derivative(probs[$0], draw: draws[$0], scale: simp.onCanvas[$0]) }
        // Backward of the widths: each term's ∂/∂p through halfWidth = draw · base width.
        let gTerms = terms.strokeGradients.map { ds in
            simp.mlp.backward(widths.trace, outputGradient: probs.indices.map { ds[$0].halfWidth * settings.halfWidth * chain[$0] })
        }
        let gWidth = simp.mlp.backward(widths.trace, outputGradient: probs.indices.map { chain[$0] / n })
        let weights = GradNorm.weights(gTerms + [gWidth])
        let residual = widthLoss - simp.ratio * terms.rawTotal
        let termScale = terms.rawScale.indices.map { weights[$0] - 2 * residual * simp.ratio * terms.rawScale[$0] }
        let widthScale = weights[gTerms.count] + 2 * residual
        // 7. Update (the widths).
        var grad = gWidth.map { widthScale * $0 }
        for (g, scale) in zip(gTerms, termScale) { axpy(scale, g, into: &grad) }
        simp.adam.update(&simp.mlp.parameters, gradients: grad)
        simp.lastWidthLoss = widthLoss
        simp.lastKeepProbability = zip(probs, simp.onCanvas).reduce(0) { $0 + $1.0 * $1.1 } / n
        simplicity = simp
        return termScale
    }

    // MARK: 7. Update

    /// GradNorm across the compared blocks on the fidelity axis (the foreground,
    /// docs/algorithm.md §4): each block's loss goes back to the points MLP on its own, and the
    /// parameter gradients are summed with GradNorm's weights.
    func updatePointsBalancingBlocks(_ drawn: DrawnStrokes, _ losses: BlockLosses,
                                     backward: ([Int: FeatureMap]) -> [StrokeGradient]) {
        let perBlock = losses.gradients.sorted { $0.key < $1.key }.map { block in
            mlp.backward(drawn.points, outputGradient: pointsOutputGradient(backward([block.key: block.value]), scale: 1))
        }
        var grad = [Float](repeating: 0, count: mlp.parameters.count)
        for (g, weight) in zip(perBlock, GradNorm.weights(perBlock)) { axpy(weight, g, into: &grad) }
        adam.update(&mlp.parameters, gradients: grad)
    }

    /// The points MLP's update from the perceptual terms, each scaled.
    func updatePoints(_ drawn: DrawnStrokes, terms: PerceptualTerms, scales: [Float]) {
        var dOut = [Float](repeating: 0, count: mlpInput.count)
        for (ds, scale) in zip(terms.strokeGradients, scales) {
            let part = pointsOutputGradient(ds, scale: scale)
            for j in dOut.indices { dOut[j] += part[j] }
        }
        adam.update(&mlp.parameters, gradients: mlp.backward(drawn.points, outputGradient: dOut))
    }
}
