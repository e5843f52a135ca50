import Foundation
import Imaging
import Models
import Tensors
import Vector

/// Settings of one part's optimisation (foreground or background).
public struct PartSettings: Sendable, Codable, Equatable {
    public var strokes: Int = 64
    public var halfWidth: Float = 1.5
    public var layers: LayerWeights = FidelityLevels.efficientNet[0]
    public var learningRate: Float = 1e-4
    public var augmentations: Int = 4
    public var seed: UInt64 = 0
    /// Softmax temperature of the initial stroke sampling (docs/algorithm.md §3).
    public var samplingTemperature: Float = 0.3
    /// Simplicity axis (docs/algorithm.md §5): width-MLP learning rate, relaxed-Bernoulli temperature,
    /// and the probability above which a stroke is kept in the output.
    public var widthLearningRate: Float = 5e-5
    public var gumbelTemperature: Float = 0.2
    public var keepThreshold: Float = 0.7
    /// Balance the losses of the compared blocks with GradNorm instead of summing them (the
    /// reference does for the foreground, whose loss has two depths, docs/algorithm.md §4).
    public var gradNorm = false
    public init() {}
}

/// Optimises one set of strokes against one target image, CLIPascene's fidelity axis: a
/// points MLP maps the initial control points to offsets and is trained with Adam on the
/// perceptual loss over one clean and several augmented views of sketch and target.
/// Seconds spent in each phase of a part's optimisation steps, summed over the steps taken.
public struct StepTimings: Sendable, Equatable {
    /// In step order: the points MLP, widths and rasteriser; the warped and normalised views;
    /// the encoder's forward passes; the feature loss; everything back to the MLPs and their
    /// Adam updates (encoder backward, warps, rasteriser backward, GradNorm).
    public static let phases = ["strokes", "views", "encode", "loss", "gradients"]
    public private(set) var seconds: [String: Double] = [:]
    public private(set) var steps = 0

    public init() {}

    /// Adds the time since `start` (uptime nanoseconds) to `phase`; returns now, the next start.
    mutating func record(_ phase: String, since start: UInt64) -> UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[phase, default: 0] += Double(now &- start) / 1e9
        return now
    }

    mutating func countStep() { steps += 1 }
}

public final class PartSketcher: @unchecked Sendable {
    public let width: Int, height: Int
    public let settings: PartSettings
    let target: RGBImage
    let encoder: any PerceptualEncoder
    let normalisation: EncoderInput
    let channelNormalisedLoss: Bool
    public let initialStrokes: [Stroke]
    let mlpInput: [Float]
    var mlp: MLP
    var adam: Adam
    var rng: SeededRandom
    let cleanTargetFeatures: [Int: FeatureMap]
    public internal(set) var step = 0
    public internal(set) var lastLoss: Float = .infinity
    public internal(set) var bestLoss: Float = .infinity
    /// The perceptual loss over all views of the latest step (what the ratio loss compares).
    public internal(set) var lastTotalLoss: Float = .infinity
    public internal(set) var bestStrokes: [Stroke]
    /// The simplicity axis, once started: a width MLP gives each stroke a keep-probability.
    var simplicity: Simplicity?

    struct Simplicity {
        var mlp: MLP
        var adam: Adam
        let input: [Float]
        /// 1 for strokes that put ink on the canvas when simplification began, else 0.
        let onCanvas: [Float]
        var ratio: Float
        var lastWidthLoss: Float = 1
        /// The mean keep-probability of the on-canvas strokes at the latest step (noise-free,
        /// the width series LevelSelection compares).
        var lastKeepProbability: Float = 1
        /// The current level's evaluations so far (LevelSelection).
        var evaluations: [LevelEvaluation] = []
        /// The drawing the last finished level selected; shown until this part's next step.
        var selected: [Stroke]? = nil
    }

    /// Wall-clock time per phase of the steps taken so far (`clipascene bench step`).
    public private(set) var timings = StepTimings()

    /// `target` and `saliency` are at the canvas size (long side 224 by convention).
    public init(target: RGBImage, saliency: GrayImage, encoder: any PerceptualEncoder, settings: PartSettings) {
        precondition(target.width == saliency.width && target.height == saliency.height, "target and saliency sizes differ")
        if let side = encoder.requiredSide {
            precondition(target.width <= side && target.height <= side, "a \(target.width)×\(target.height) canvas does not fit the encoder's \(side)² input")
        }
        normalisation = encoder.normalisation
        channelNormalisedLoss = EncoderProfile.of(encoder).channelNormalised
        self.width = target.width
        self.height = target.height
        self.target = target
        self.encoder = encoder
        self.settings = settings
        var rng = SeededRandom(settings.seed &* 0x2545_F491_4F6C_DD1D &+ 1)
        let edges = XDoG.edges(normalisation.normalise(target).luminance())
        initialStrokes = Initialisation.strokes(count: settings.strokes, saliency: saliency, edges: edges,
                                                temperature: settings.samplingTemperature, halfWidth: settings.halfWidth,
                                                rng: &rng)
        let w = Float(width), h = Float(height)
        mlpInput = initialStrokes.flatMap { s in s.points.flatMap { [2 * $0.x / w - 1, 2 * $0.y / h - 1] } }
        let n = mlpInput.count
        mlp = MLP(sizes: [n, 1000, 1000, n], initialisation: .pytorchDefault, seed: settings.seed &+ 17)
        adam = Adam(count: mlp.parameters.count, learningRate: settings.learningRate)
        self.rng = rng
        let clean = Self.framed(normalisation.normalise(target), encoder: encoder, normalisation: normalisation)
        let trace = encoder.encode(clean, through: settings.layers.deepest, keepTrace: false)
        cleanTargetFeatures = Dictionary(uniqueKeysWithValues: settings.layers.weights.keys.map { ($0, trace.features(at: $0)) })
        bestStrokes = initialStrokes
    }

    /// The canvas centred in the square input an encoder requires (CLIP), the margin white
    /// like the canvas; unchanged for encoders that take any size.
    static func framed(_ x: FeatureMap, encoder: any PerceptualEncoder, normalisation: EncoderInput) -> FeatureMap {
        guard let side = encoder.requiredSide, x.height != side || x.width != side else { return x }
        let top = (side - x.height) / 2, left = (side - x.width) / 2
        var out = FeatureMap(zeros: 3, batch: x.batch, height: side, width: side)
        for c in 0..<3 {
            let white = (1 - normalisation.mean[c]) / normalisation.std[c]
            for n in 0..<x.batch {
                let dst = (c * x.batch + n) * side * side, src = (c * x.batch + n) * x.plane
                for i in 0..<(side * side) { out.data[dst + i] = white }
                for y in 0..<x.height {
                    for xx in 0..<x.width { out.data[dst + (y + top) * side + left + xx] = x.data[src + y * x.width + xx] }
                }
            }
        }
        return out
    }

    func frame(_ x: FeatureMap) -> FeatureMap { Self.framed(x, encoder: encoder, normalisation: normalisation) }

    /// The canvas part of a gradient with respect to a framed input.
    func unframe(_ g: FeatureMap) -> FeatureMap {
        guard g.height != height || g.width != width else { return g }
        let top = (g.height - height) / 2, left = (g.width - width) / 2
        var out = FeatureMap(zeros: 3, batch: g.batch, height: height, width: width)
        for p in 0..<(3 * g.batch) {
            for y in 0..<height {
                for x in 0..<width { out.data[(p * height + y) * width + x] = g.data[(p * g.height + y + top) * g.width + left + x] }
            }
        }
        return out
    }

    /// The strokes the MLP currently produces.
    public var currentStrokes: [Stroke] { strokes(from: mlp.forward(mlpInput).output) }

    func strokes(from out: [Float]) -> [Stroke] {
        let w = Float(width), h = Float(height)
        var i = 0
        return initialStrokes.map { s in
            var s = s
            for k in s.points.indices {
                // out = x + 0.1·Δ, mapped back to pixels.
                let x = mlpInput[i] + 0.1 * out[i], y = mlpInput[i + 1] + 0.1 * out[i + 1]
                s.points[k] = SIMD2((x + 1) * w / 2, (y + 1) * h / 2)
                i += 2
            }
            return s
        }
    }

    /// Starts (or moves to the next level of) the simplicity axis with target ratio `ratio`:
    /// the width loss is driven towards `ratio` × the perceptual loss. Levels chain: the MLPs
    /// and both optimisers' states carry over.
    public func beginSimplicity(ratio: Float) {
        if simplicity != nil {
            simplicity?.ratio = ratio
            return
        }
        let n = initialStrokes.count
        let current = currentStrokes
        let onCanvas: [Float] = current.map { s in
            Raster.render([s], width: width, height: height).image.contains { $0 < 1 } ? 1 : 0
        }
        let mlp = MLP(sizes: [n, 1000, 1000, n], sigmoidOutput: true, initialisation: .xavier(bias: 0.01),
                      seed: settings.seed &+ 29)
        simplicity = Simplicity(mlp: mlp, adam: Adam(count: mlp.parameters.count, learningRate: settings.widthLearningRate),
                                input: [Float](repeating: settings.halfWidth, count: n), onCanvas: onCanvas, ratio: ratio)
    }

    /// The ratio of the first simplicity level: 1 / the best perceptual loss (docs/algorithm.md §5).
    public var firstRatio: Float { bestLoss.isFinite && bestLoss > 0 ? 1 / bestLoss : 1 }

    /// Keep-probabilities of the strokes (all 1 before the simplicity axis starts).
    public var keepProbabilities: [Float] {
        guard let simp = simplicity else { return [Float](repeating: 1, count: initialStrokes.count) }
        return zip(simp.mlp.forward(simp.input).output, simp.onCanvas).map { $0 * $1 }
    }

    /// The output drawing: before simplification the best strokes; after, the current strokes
    /// whose relaxed-Bernoulli draw (seeded, so repeatable) exceeds the keep threshold, each
    /// with width = draw × base width.
    public var outputStrokes: [Stroke] {
        guard let simp = simplicity else { return bestStrokes }
        return simp.selected ?? sampledOutput
    }

    /// What the current parameters draw, even where a finished level shows its selected
    /// evaluation instead (the bench compares the two).
    public var lastStepStrokes: [Stroke] { simplicity == nil ? bestStrokes : sampledOutput }

    /// The current state's output under the simplicity axis (see `outputStrokes`).
    var sampledOutput: [Stroke] {
        var rng = SeededRandom(settings.seed &+ 4242)
        let p = keepProbabilities
        var kept: [Stroke] = []
        for (i, s) in currentStrokes.enumerated() {
            let draw = relaxedBernoulli(p[i], noise: logisticNoise(&rng))
            if draw > settings.keepThreshold {
                var t = s
                t.halfWidth = draw * settings.halfWidth
                kept.append(t)
            }
        }
        return kept
    }

    func logisticNoise(_ rng: inout SeededRandom) -> Float {
        let u = min(max(rng.uniform(), 1e-6), 1 - 1e-6)
        return Foundation.log(u) - Foundation.log(1 - u)
    }

    /// σ((logit p + ℓ)/τ): the Gumbel-softmax of [log p, log(1−p)] at temperature τ.
    func relaxedBernoulli(_ p: Float, noise: Float) -> Float {
        let q = min(max(p, 1e-8), 1 - 1e-7)
        let z = (Foundation.log(q) - Foundation.log(1 - q) + noise) / settings.gumbelTemperature
        return 1 / (1 + Foundation.exp(-z))
    }

    /// The mean keep-probability of the on-canvas strokes at the latest simplicity step (the
    /// width series a level's selection compares); nil before the simplicity axis starts.
    public var meanKeepProbability: Float? { simplicity?.lastKeepProbability }

    /// The width loss of the latest simplicity step (mean kept-probability over on-canvas strokes).
    public var widthLoss: Float? { simplicity?.lastWidthLoss }

    /// One optimisation step; returns the loss of the clean view before the update. With
    /// `evaluating` (a simplicity level's evaluation step, LevelSelection) the drawing of the
    /// parameters the step measures is recorded with its losses.
    @discardableResult
    public func step(count: Int = 1, evaluating: Bool = false) -> Float {
        for i in 0..<count {
            let drawing = evaluating && i == count - 1 && simplicity != nil ? sampledOutput : nil
            singleStep()
            if let drawing, var simp = simplicity {
                simp.evaluations.append(LevelEvaluation(losses: lastBlockLosses + [simp.lastKeepProbability], drawing: drawing))
                simplicity = simp
            }
        }
        return lastLoss
    }

    /// Ends a simplicity level: its evaluations choose the drawing shown (LevelSelection); the
    /// optimisation itself goes on from the current state.
    public func finishLevel() {
        guard var simp = simplicity, !simp.evaluations.isEmpty else { return }
        simp.selected = simp.evaluations[LevelSelection.choose(simp.evaluations.map(\.losses))].drawing
        simp.evaluations = []
        simplicity = simp
    }

    /// The clean view's loss of each compared block (ascending block order, un-weighted) in
    /// the latest step.
    public internal(set) var lastBlockLosses: [Float] = []

    private func singleStep() {
        simplicity?.selected = nil   // the live state is shown again once a new level runs
        var clock = DispatchTime.now().uptimeNanoseconds
        let plane = width * height
        let views = settings.augmentations
        let trace = mlp.forward(mlpInput)
        var strokes = self.strokes(from: trace.output)
        // Simplicity: each stroke's width is a relaxed-Bernoulli draw of its keep-probability.
        var widthTrace: MLP.Trace? = nil
        var draws: [Float] = [], probs: [Float] = []
        if let simp = simplicity {
            let wt = simp.mlp.forward(simp.input)
            widthTrace = wt
            probs = wt.output
            draws = probs.indices.map { relaxedBernoulli(probs[$0], noise: logisticNoise(&rng)) * simp.onCanvas[$0] }
            for i in strokes.indices { strokes[i].halfWidth = draws[i] * settings.halfWidth }
        }
        let raster = Raster.render(strokes, width: width, height: height)
        clock = timings.record("strokes", since: clock)
        let warps = (0..<views).map { _ in Warp.random(width: width, height: height, rng: &rng) }

        // Sketch batch: clean + warped views, normalised per channel. The ink is gray, so each
        // view warps one plane (not three identical ones); views run on the workers.
        let mean = normalisation.mean, std = normalisation.std
        var sketch = [Float](unspecified: 3 * (views + 1) * plane)   // [3][batch][plane]
        var targetViews = [Float](unspecified: 3 * views * plane)
        raster.image.withUnsafeBufferPointer { ib in target.pixels.withUnsafeBufferPointer { tb in
        sketch.withUnsafeMutableBufferPointer { sb in targetViews.withUnsafeMutableBufferPointer { vb in
            let (image, photo) = (UncheckedSendable(ib.baseAddress!), UncheckedSendable(tb.baseAddress!))
            let (out, outTarget) = (UncheckedSendable(sb.baseAddress!), UncheckedSendable(vb.baseAddress))
            parallelFor(2 * views + 1) { jobs in
                var warped = [Float](unspecified: 3 * plane)
                /// One plane in channel c's normalisation.
                func normalise(_ src: UnsafePointer<Float>, channel c: Int, into dst: UnsafeMutablePointer<Float>) {
                    for i in 0..<plane { dst[i] = (src[i] - mean[c]) / std[c] }
                }
                for job in jobs {
                    if job <= views {   // sketch view `job` (0 is the clean canvas)
                        let v = job
                        if v > 0 { warped.withUnsafeMutableBufferPointer { warps[v - 1].apply(image.value, planes: 1, into: $0.baseAddress!) } }
                        warped.withUnsafeBufferPointer { wb in
                            let gray = v == 0 ? image.value : wb.baseAddress!
                            for c in 0..<3 { normalise(gray, channel: c, into: out.value + (c * (views + 1) + v) * plane) }
                        }
                    } else if let outTarget = outTarget.value {   // target view job − views − 1, all three planes
                        let v = job - views - 1
                        warped.withUnsafeMutableBufferPointer { warps[v].apply(photo.value, planes: 3, into: $0.baseAddress!) }
                        warped.withUnsafeBufferPointer { wb in
                            for c in 0..<3 { normalise(wb.baseAddress! + c * plane, channel: c, into: outTarget + (c * views + v) * plane) }
                        }
                    }
                }
            }
        } } } }
        clock = timings.record("views", since: clock)
        let deepest = settings.layers.deepest
        let sketchTrace = encoder.encode(
            frame(FeatureMap(channels: 3, batch: views + 1, height: height, width: width, data: sketch)),
            through: deepest, keepTrace: true)
        let targetTrace = views > 0
            ? encoder.encode(frame(FeatureMap(channels: 3, batch: views, height: height, width: width, data: targetViews)),
                             through: deepest, keepTrace: false)
            : nil

        clock = timings.record("encode", since: clock)
        var total: Float = 0, cleanLoss: Float = 0
        var gradients: [Int: FeatureMap] = [:], blockLosses: [Int: Float] = [:], cleanBlockLosses: [Int: Float] = [:]
        for (block, weight) in settings.layers.weights {
            let s = sketchTrace.features(at: block)
            // Target features in the same [C][batch][plane] layout: clean (cached) + views.
            var t = s
            let cols = s.plane
            let clean = cleanTargetFeatures[block]!
            let targetFeatures = targetTrace?.features(at: block)   // laid out on each call: once per block
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
            total += loss
            cleanLoss += unaugmented
            cleanBlockLosses[block] = weight > 0 ? unaugmented / weight : unaugmented
            gradients[block] = grad
            blockLosses[block] = loss
        }
        clock = timings.record("loss", since: clock)
        lastBlockLosses = cleanBlockLosses.keys.sorted().map { cleanBlockLosses[$0] ?? 0 }
        /// ∂L/∂strokes for the losses behind `gradients`: back through the encoder, the
        /// normalisation and the views to the gray canvas, then the rasteriser.
        func strokeGradients(_ gradients: [Int: FeatureMap]) -> [StrokeGradient] {
            let dInput = unframe(encoder.inputGradient(sketchTrace, gradients: gradients))
            // Each view's three channel gradients fold into one gray plane first (the warp is
            // the same linear map on every plane), then go back through its warp; views run
            // on the workers into their own planes, summed in view order (deterministic).
            var perView = [Float](unspecified: (views + 1) * plane)
            dInput.data.withUnsafeBufferPointer { db in perView.withUnsafeMutableBufferPointer { pb in
                let (d, out) = (UncheckedSendable(db.baseAddress!), UncheckedSendable(pb.baseAddress!))
                parallelFor(views + 1) { jobs in
                    var gray = [Float](unspecified: plane)
                    for v in jobs {
                        let target = out.value + v * plane
                        gray.withUnsafeMutableBufferPointer { gb in
                            let g = v == 0 ? target : gb.baseAddress!   // the clean view needs no warp
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
            return raster.backward(dImage)
        }
        /// ∂L/∂(points MLP output) from stroke gradients, scaled.
        func outputGradient(_ dStrokes: [StrokeGradient], scale: Float) -> [Float] {
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
        // GradNorm across the compared blocks (the foreground, docs/algorithm.md §4): each loss is
        // back-propagated on its own to the points MLP, and weighted by how small its
        // parameter gradient is next to the others'.
        if simplicity == nil && settings.gradNorm && gradients.count > 1 {
            let perBlock = gradients.keys.sorted().map { b in mlp.backward(trace, outputGradient: outputGradient(strokeGradients([b: gradients[b]!]), scale: 1)) }
            var grad = [Float](repeating: 0, count: perBlock[0].count)
            for (g, weight) in zip(perBlock, Self.gradNormWeights(perBlock)) {
                axpy(weight, g, into: &grad)
            }
            adam.update(&mlp.parameters, gradients: grad)
            finishStep(strokes: strokes, cleanLoss: cleanLoss, total: total, since: clock)
            return
        }
        // The perceptual terms the simplicity axis balances: one per compared block under
        // GradNorm (the foreground, docs/algorithm.md §4–5: each block its own weight),
        // otherwise their weighted sum. `rawScale` turns a term back into the un-weighted
        // loss the ratio compares.
        let blocks = gradients.keys.sorted()
        let perBlock = simplicity != nil && settings.gradNorm && blocks.count > 1
        let terms: [[StrokeGradient]] = perBlock ? blocks.map { strokeGradients([$0: gradients[$0]!]) } : [strokeGradients(gradients)]
        let rawScale: [Float] = perBlock ? blocks.map { 1 / (settings.layers.weights[$0] ?? 1) } : [1]
        let rawTotal = perBlock ? blocks.reduce(Float(0)) { $0 + (blockLosses[$1] ?? 0) / (settings.layers.weights[$1] ?? 1) } : total
        // How much of each term reaches the points: 1, or under the simplicity axis its
        // GradNorm weight plus the ratio loss's pull (docs/algorithm.md §5).
        var termScale = [Float](repeating: 1, count: terms.count)
        if var simp = simplicity, let wt = widthTrace {
            let n = Float(max(1, simp.onCanvas.reduce(0, +)))
            let widthLoss = draws.reduce(0, +) / n
            let tau = settings.gumbelTemperature
            // ∂draw/∂p for the relaxed Bernoulli: draw(1−draw) / (τ p (1−p)).
            let chain = probs.indices.map { i -> Float in
                let p = min(max(probs[i], 1e-6), 1 - 1e-6)
                return simp.onCanvas[i] * draws[i] * (1 - draws[i]) / (tau * p * (1 - p))
            }
            let gTerms = terms.map { ds in
                simp.mlp.backward(wt, outputGradient: probs.indices.map { ds[$0].halfWidth * settings.halfWidth * chain[$0] })
            }
            let gWidth = simp.mlp.backward(wt, outputGradient: probs.indices.map { chain[$0] / n })
            // GradNorm over the width MLP.
            let weights = Self.gradNormWeights(gTerms + [gWidth])
            let residual = widthLoss - simp.ratio * rawTotal
            for i in terms.indices { termScale[i] = weights[i] - 2 * residual * simp.ratio * rawScale[i] }
            let widthScale = weights[terms.count] + 2 * residual
            var grad = gWidth.map { widthScale * $0 }
            for (g, scale) in zip(gTerms, termScale) { axpy(scale, g, into: &grad) }
            simp.adam.update(&simp.mlp.parameters, gradients: grad)
            simp.lastWidthLoss = widthLoss
            simp.lastKeepProbability = zip(probs, simp.onCanvas).reduce(0) { $0 + $1.0 * $1.1 } / n
            simplicity = simp
        }
        var dOut = [Float](repeating: 0, count: mlpInput.count)
        for (ds, scale) in zip(terms, termScale) {
            let part = outputGradient(ds, scale: scale)
            for j in dOut.indices { dOut[j] += part[j] }
        }
        let grad = mlp.backward(trace, outputGradient: dOut)
        adam.update(&mlp.parameters, gradients: grad)
        finishStep(strokes: strokes, cleanLoss: cleanLoss, total: total, since: clock)
    }

    /// GradNorm's loss weights from each loss's parameter gradient (docs/algorithm.md §4):
    /// w_i = (G − g_i) / ((n − 1) G), g_i = mean |∂L_i/∂θ|, G = Σ g.
    static func gradNormWeights(_ gradients: [[Float]]) -> [Float] {
        let sizes = gradients.map { g in absoluteSum(g) / Float(max(1, g.count)) }
        let sum = max(sizes.reduce(0, +), 1e-20), n = Float(gradients.count)
        return sizes.map { (sum - $0) / ((n - 1) * sum) }
    }

    private func finishStep(strokes: [Stroke], cleanLoss: Float, total: Float, since clock: UInt64) {
        _ = timings.record("gradients", since: clock)
        timings.countStep()
        step += 1
        lastLoss = cleanLoss
        lastTotalLoss = total
        if simplicity == nil && cleanLoss < bestLoss {
            bestLoss = cleanLoss
            bestStrokes = strokes
        }
    }
}

extension FeatureMap {
    /// Luminance of a one-image, three-channel map (the normalised target, which is what
    /// the reference feeds XDoG).
    func luminance() -> GrayImage {
        let plane = height * width
        var out = [Float](repeating: 0, count: plane)
        for i in 0..<plane { out[i] = 0.2125 * data[i] + 0.7154 * data[plane + i] + 0.0721 * data[2 * plane + i] }
        return GrayImage(width: width, height: height, pixels: out)
    }
}
