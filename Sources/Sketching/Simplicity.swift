import Foundation
import Models
import Tensors
import Vector

/// The simplicity axis of one part (docs/algorithm.md §5): a width MLP gives each stroke a
/// keep-probability; a stroke's width in a step is a relaxed-Bernoulli draw of it.
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

    /// The number of on-canvas strokes, at least 1 (the width loss's denominator).
    var onCanvasCount: Float { Float(max(1, onCanvas.reduce(0, +))) }
}

/// The relaxed Bernoulli (binary Gumbel-softmax) a stroke's width is drawn from.
struct RelaxedBernoulli {
    let temperature: Float

    /// Logistic noise log u − log(1 − u), u uniform (clamped away from 0 and 1).
    static func noise(_ rng: inout SeededRandom) -> Float {
        let u = min(max(rng.uniform(), 1e-6), 1 - 1e-6)
        return Foundation.log(u) - Foundation.log(1 - u)
    }

    /// σ((logit p + ℓ)/τ): the Gumbel-softmax of [log p, log(1−p)] at temperature τ.
    func draw(_ p: Float, noise: Float) -> Float {
        let q = min(max(p, 1e-8), 1 - 1e-7)
        let z = (Foundation.log(q) - Foundation.log(1 - q) + noise) / temperature
        return 1 / (1 + Foundation.exp(-z))
    }

    /// scale · ∂draw/∂p given the draw: scale · draw(1−draw) / (τ p (1−p)).
    func derivative(_ p: Float, draw: Float, scale: Float) -> Float {
        let q = min(max(p, 1e-6), 1 - 1e-6)
        return scale * draw * (1 - draw) / (temperature * q * (1 - q))
    }
}

extension PartSketcher {
    var relaxedBernoulli: RelaxedBernoulli { RelaxedBernoulli(temperature: settings.gumbelTemperature) }

    /// Starts (or moves to the next level of) the simplicity axis with target ratio `ratio`:
    /// the width loss is driven towards `ratio` × the perceptual loss. Levels chain: the MLPs
    /// and both optimisers' states carry over.
    public func beginSimplicity(ratio: Float, inputHalfWidth: Float? = nil) {
        if simplicity != nil {
            simplicity?.ratio = ratio
            return
        }
        let n = initialStrokes.count
        let onCanvas: [Float] = currentStrokes.map { s in
            Raster.render([s], width: width, height: height).image.contains { $0 < 1 } ? 1 : 0
        }
        let mlp = MLP(sizes: [n, 1000, 1000, n], sigmoidOutput: true, initialisation: .xavier(bias: 0.01),
                      seed: settings.seed &+ 29)
        simplicity = Simplicity(mlp: mlp, adam: Adam(count: mlp.parameters.count, learningRate: settings.widthLearningRate),
                                input: [Float](repeating: inputHalfWidth ?? settings.halfWidth, count: n), onCanvas: onCanvas, ratio: ratio)
    }

    /// The ratio of the first simplicity level: 1 / the best perceptual loss (docs/algorithm.md §5).
    public var firstRatio: Float { bestLoss.isFinite && bestLoss > 0 ? 1 / bestLoss : 1 }

    /// Keep-probabilities of the strokes (all 1 before the simplicity axis starts).
    public var keepProbabilities: [Float] {
        guard let simp = simplicity else { return [Float](repeating: 1, count: initialStrokes.count) }
        return zip(simp.mlp.forward(simp.input).output, simp.onCanvas).map { $0 * $1 }
    }

    /// The current state's output under the simplicity axis: the current strokes whose
    /// relaxed-Bernoulli draw (seeded, so repeatable) exceeds the keep threshold, each with
    /// width = draw × base width.
    var sampledOutput: [Stroke] {
        var rng = SeededRandom(settings.seed &+ 4242)
        let p = keepProbabilities
        let bernoulli = relaxedBernoulli
        var kept: [Stroke] = []
        for (i, s) in currentStrokes.enumerated() {
            let draw = bernoulli.draw(p[i], noise: RelaxedBernoulli.noise(&rng))
            if draw > settings.keepThreshold {
                var t = s
                t.halfWidth = draw * settings.halfWidth
                kept.append(t)
            }
        }
        return kept
    }

    /// The mean keep-probability of the on-canvas strokes at the latest simplicity step (the
    /// width series a level's selection compares); nil before the simplicity axis starts.
    public var meanKeepProbability: Float? { simplicity?.lastKeepProbability }

    /// The width loss of the latest simplicity step (mean kept-probability over on-canvas strokes).
    public var widthLoss: Float? { simplicity?.lastWidthLoss }

    /// Ends a simplicity level: its evaluations choose the drawing shown (LevelSelection); the
    /// optimisation itself goes on from the current state.
    public func finishLevel() {
        guard var simp = simplicity, !simp.evaluations.isEmpty else { return }
        simp.selected = simp.evaluations[LevelSelection.choose(simp.evaluations.map(\.losses))].drawing
        simp.evaluations = []
        simplicity = simp
    }
}
