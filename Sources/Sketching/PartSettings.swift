/// Settings of one part's optimisation (foreground or background), resolved from an
/// `Abstraction` for one encoder.
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
    /// The simplicity level's division factor for this part (docs/algorithm.md §5).
    public var simplicityDivision: Float = SimplicityLevels.backgroundDivision[0]
    public init() {}
}
