import Foundation
import Vector

/// One evaluation during a simplicity level: the losses of the parameters at that step and
/// the drawing they make.
struct LevelEvaluation: Codable, Equatable {
    /// The clean view's loss of each compared block (un-weighted), then the mean
    /// keep-probability of the on-canvas strokes (the width loss without its noise).
    var losses: [Float]
    var drawing: [Stroke]
}

/// Which drawing a simplicity level ends with, as the reference chooses it (docs/algorithm.md,
/// "Simplicity"): the level is evaluated four times, at ¼, ½, ¾ and the end of its steps;
/// each loss series (every compared block's, and the width's) is turned into z-scores over
/// those evaluations, the z-scores are summed per evaluation, and the lowest sum wins. The
/// perceptual losses rise as strokes are dropped while the width loss falls, so the rule picks
/// the evaluation with the best balance of the two rather than simply the last one.
///
/// We depart in one respect: the next level continues from the last step's parameters, not
/// from the selected evaluation's. Keeping three full checkpoints (both networks and both
/// optimisers, ~38 MB each) per part and level, and in every snapshot, would cost far more
/// than it changes; the selected drawing is what is shown (docs/quality.md has the evidence).
public enum LevelSelection {
    /// Evaluations per level.
    public static let evaluationsPerLevel = 4

    /// True when a part's `step`-th step of a level (1-based) of `steps` is an evaluation:
    /// steps ⌊k·steps/4⌋ for k = 1…4 (every step when a level is shorter than four).
    public static func isEvaluation(step: Int, of steps: Int) -> Bool {
        guard steps > 0, (1...steps).contains(step) else { return false }
        return (1...evaluationsPerLevel).contains { max(1, $0 * steps / evaluationsPerLevel) == step }
    }

    /// The index of the evaluation to keep: the argmin over evaluations of the summed z-scores
    /// of each series (`series[e][k]`: series k at evaluation e). A series that does not vary
    /// contributes nothing; ties go to the earlier evaluation.
    public static func choose(_ series: [[Float]]) -> Int {
        guard let first = series.first, series.count > 1 else { return 0 }
        var score = [Float](repeating: 0, count: series.count)
        for k in first.indices where series.allSatisfy({ $0.count == first.count }) {
            let values = series.map { $0[k] }
            let mean = values.reduce(0, +) / Float(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
            guard std > 0, std.isFinite else { continue }
            for e in values.indices { score[e] += (values[e] - mean) / std }
        }
        var best = 0
        for e in score.indices where score[e] < score[best] { best = e }
        return best
    }
}
