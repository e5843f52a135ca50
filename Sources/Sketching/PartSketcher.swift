import Foundation
import Imaging
import Models
import Tensors
import Vector

/// Optimises one set of strokes against one target image, CLIPascene's fidelity axis: a
/// points MLP maps the initial control points to offsets and is trained with Adam on the
/// perceptual loss over one clean and several augmented views of sketch and target
/// (OptimisationStep.swift); the simplicity axis adds a width MLP (Simplicity.swift).
public final class PartSketcher: @unchecked Sendable {
    public let width: Int, height: Int
    public private(set) var settings: PartSettings
    let target: RGBImage
    let encoder: any PerceptualEncoder
    let normalisation: EncoderInput
    let channelNormalisedLoss: Bool
    let framing: EncoderFraming
    public private(set) var initialStrokes: [Stroke]
    let mlpInput: [Float]
    var mlp: MLP
    var adam: Adam
    var rng: SeededRandom
    /// The generator as the first step found it (after placing the first strokes).
    let startRandom: SeededRandom
    let cleanTargetFeatures: [Int: FeatureMap]
    public internal(set) var step = 0
    public internal(set) var lastLoss: Float = .infinity
    public internal(set) var bestLoss: Float = .infinity
    /// The perceptual loss over all views of the latest step (what the ratio loss compares).
    public internal(set) var lastTotalLoss: Float = .infinity
    public internal(set) var bestStrokes: [Stroke]
    /// The simplicity axis, once started: a width MLP gives each stroke a keep-probability.
    var simplicity: Simplicity?

    /// Wall-clock time per phase of the steps taken so far (`clipascene bench step`).
    public internal(set) var timings = StepTimings()

    /// `target` and `saliency` are at the canvas size (long side 224 by convention); the first
    /// strokes are placed by `Initialisation` (docs/algorithm.md §3).
    public convenience init(target: RGBImage, saliency: GrayImage, encoder: any PerceptualEncoder, settings: PartSettings) {
        precondition(target.width == saliency.width && target.height == saliency.height, "target and saliency sizes differ")
        var rng = SeededRandom(settings.seed &* 0x2545_F491_4F6C_DD1D &+ 1)
        let edges = XDoG.edges(encoder.normalisation.normalise(target).luminance())
        let strokes = Initialisation.strokes(count: settings.strokes, saliency: saliency, edges: edges,
                                             temperature: settings.samplingTemperature, halfWidth: settings.halfWidth,
                                             rng: &rng)
        self.init(target: target, encoder: encoder, settings: settings, initialStrokes: strokes, random: rng)
    }

    /// A part that starts from `initialStrokes`; `random` draws each step's noise and views.
    public init(target: RGBImage, encoder: any PerceptualEncoder, settings: PartSettings, initialStrokes: [Stroke],
                random: SeededRandom) {
        if let side = encoder.requiredSide {
            precondition(target.width <= side && target.height <= side, "a \(target.width)×\(target.height) canvas does not fit the encoder's \(side)² input")
        }
        normalisation = encoder.normalisation
        channelNormalisedLoss = EncoderProfile.of(encoder).channelNormalised
        framing = EncoderFraming(canvasWidth: target.width, canvasHeight: target.height, encoder: encoder)
        self.width = target.width
        self.height = target.height
        self.target = target
        self.encoder = encoder
        self.settings = settings
        self.initialStrokes = initialStrokes
        let w = Float(width), h = Float(height)
        mlpInput = initialStrokes.flatMap { s in s.points.flatMap { [2 * $0.x / w - 1, 2 * $0.y / h - 1] } }
        let n = mlpInput.count
        mlp = MLP(sizes: [n, 1000, 1000, n], initialisation: .pytorchDefault, seed: settings.seed &+ 17)
        adam = Adam(count: mlp.parameters.count, learningRate: settings.learningRate)
        rng = random
        startRandom = random
        let trace = encoder.encode(framing.frame(normalisation.normalise(target)), through: settings.layers.deepest, keepTrace: false)
        cleanTargetFeatures = Dictionary(uniqueKeysWithValues: settings.layers.weights.keys.map { ($0, trace.features(at: $0)) })
        bestStrokes = initialStrokes
    }

    /// An independent copy of this part's state, sharing what never changes (the target, its
    /// features, the encoder): it steps on its own exactly as this part would.
    public func copy() -> PartSketcher { PartSketcher(copying: self) }

    private init(copying p: PartSketcher) {
        (width, height, settings, target, encoder) = (p.width, p.height, p.settings, p.target, p.encoder)
        (normalisation, channelNormalisedLoss, framing) = (p.normalisation, p.channelNormalisedLoss, p.framing)
        (initialStrokes, mlpInput, cleanTargetFeatures) = (p.initialStrokes, p.mlpInput, p.cleanTargetFeatures)
        (mlp, adam, rng, startRandom, simplicity) = (p.mlp, p.adam, p.rng, p.startRandom, p.simplicity)
        (step, lastLoss, bestLoss, lastTotalLoss) = (p.step, p.lastLoss, p.bestLoss, p.lastTotalLoss)
        (bestStrokes, lastBlockLosses, timings) = (p.bestStrokes, p.lastBlockLosses, p.timings)
    }

    /// A part that starts again under `settings` from this part's first strokes and generator,
    /// sharing its target: what a part built anew from the same photo draws, without finding
    /// the saliency and placing the strokes again. Only settings that do not place the first
    /// strokes may differ (not the stroke count or the seed: `SceneSketch.restarted` checks).
    func restarted(with settings: PartSettings) -> PartSketcher {
        PartSketcher(target: target, encoder: encoder, settings: settings, initialStrokes: initialStrokes.atHalfWidth(settings.halfWidth),
                     random: startRandom)
    }

    /// Draws at `halfWidth` from now on, keeping everything learned: the strokes keep their
    /// places, the kept best drawing and a level's selected drawings are redrawn at the new
    /// width (a width drawn by the simplicity axis keeps its fraction of the base width), and
    /// the steps that follow optimise at it. The width network's input stays what it was
    /// when simplification began, so the keep-probabilities do not jump.
    public func changeStrokeWidth(halfWidth: Float) {
        guard halfWidth != settings.halfWidth else { return }
        let scale = halfWidth / settings.halfWidth
        settings.halfWidth = halfWidth
        func rescaled(_ strokes: [Stroke]) -> [Stroke] { strokes.map { var s = $0; s.halfWidth *= scale; return s } }
        initialStrokes = initialStrokes.atHalfWidth(halfWidth)
        bestStrokes = bestStrokes.atHalfWidth(halfWidth)
        if var simp = simplicity {
            simp.selected = simp.selected.map(rescaled)
            simp.evaluations = simp.evaluations.map { LevelEvaluation(losses: $0.losses, drawing: rescaled($0.drawing)) }
            simplicity = simp
        }
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

    /// One optimisation step; returns the loss of the clean view before the update. With
    /// `evaluating` (a simplicity level's evaluation step, LevelSelection) the drawing of the
    /// parameters the step measures is recorded with its losses.
    @discardableResult
    public func step(count: Int = 1, evaluating: Bool = false) -> Float {
        for i in 0..<count {
            let drawing = evaluating && i == count - 1 && simplicity != nil ? sampledOutput : nil
            let clock = DispatchTime.now().uptimeNanoseconds
            let randomness = drawRandomness()
            _ = timings.record("views", since: clock)   // drawing the warps is part of making the views
            singleStep(randomness)
            if let drawing, var simp = simplicity {
                simp.evaluations.append(LevelEvaluation(losses: lastBlockLosses + [simp.lastKeepProbability], drawing: drawing))
                simplicity = simp
            }
        }
        return lastLoss
    }

    /// One step with the given randomness instead of the part's generator's (the whole-step
    /// golden test): `noise` has a value per stroke once the simplicity axis has begun, else none;
    /// `warps` one per augmented view.
    public func step(with randomness: StepRandomness) {
        precondition(randomness.noise.count == (simplicity == nil ? 0 : initialStrokes.count), "one noise value per stroke")
        precondition(randomness.warps.count == settings.augmentations
                     && randomness.warps.allSatisfy { $0.width == width && $0.height == height }, "one canvas-sized warp per view")
        singleStep(randomness)
    }

    /// The points MLP and its optimiser, and the width MLP and its optimiser once the
    /// simplicity axis has begun.
    public var pointsNetwork: (mlp: MLP, optimiser: Adam) { (mlp, adam) }
    public var widthNetwork: (mlp: MLP, optimiser: Adam)? { simplicity.map { ($0.mlp, $0.adam) } }

    /// Sets the networks' parameters (the golden test starts from known ones); the sizes must match.
    public func setParameters(points: [Float], widths: [Float]? = nil) {
        precondition(points.count == mlp.parameters.count, "the points MLP has \(mlp.parameters.count) parameters")
        mlp.parameters = points
        if let widths, var simp = simplicity {
            precondition(widths.count == simp.mlp.parameters.count, "the width MLP has \(simp.mlp.parameters.count) parameters")
            simp.mlp.parameters = widths
            simplicity = simp
        }
    }

    /// The clean view's loss of each compared block (ascending block order, un-weighted) in
    /// the latest step.
    public internal(set) var lastBlockLosses: [Float] = []

    func finishStep(strokes: [Stroke], cleanLoss: Float, total: Float, since clock: UInt64) {
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

extension Array where Element == Stroke {
    /// The same strokes, every one at `halfWidth` (a part's base width).
    func atHalfWidth(_ halfWidth: Float) -> [Stroke] { map { var s = $0; s.halfWidth = halfWidth; return s } }
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
