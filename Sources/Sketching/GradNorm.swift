import Tensors

/// GradNorm as the reference uses it (docs/algorithm.md §4): losses are weighted so that the
/// one whose parameter gradient is small next to the others' counts for more.
public enum GradNorm {
    /// w_i = (G − g_i) / ((n − 1) G), where g_i = mean |∂L_i/∂θ| and G = Σ g. The weights are
    /// constants of the step: no gradient flows through them.
    public static func weights(_ gradients: [[Float]]) -> [Float] {
        let sizes = gradients.map { g in absoluteSum(g) / Float(max(1, g.count)) }
        let sum = max(sizes.reduce(0, +), 1e-20), n = Float(gradients.count)
        return sizes.map { (sum - $0) / ((n - 1) * sum) }
    }
}
