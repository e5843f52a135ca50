import Foundation
import Models

/// The abstraction a sketch is drawn at, with the run's schedule: what a client sets through
/// `setAbstraction`, the command line or a batch manifest line, each setting under one name
/// (the property's; the wire's older spellings are in `SetAbstractionParams.aliases`).
public struct Abstraction: Sendable, Equatable {
    /// Fidelity level, precise → loose (docs/algorithm.md §4).
    public var fidelity = 0
    /// Simplicity level, detailed → sparse (docs/algorithm.md §5).
    public var simplicity = 0
    public var strokes = 64
    /// The strokes' width in the SVG, in pixels of the canvas (224 on the long side).
    public var strokeWidth: Float = 3
    public var seed: UInt64 = 0
    /// Fidelity steps per part.
    public var iterations = 200
    /// Steps per part for each simplicity level.
    public var simplicityIterations = 100
    /// Adam learning rate of the points MLP (the reference's 1e-4).
    public var learningRate: Float = 1e-4
    /// Augmented views per step (the reference's 4).
    public var augmentations = 4
    /// A raw encoder block to compare instead of the fidelity level's blocks (nil: the level's).
    /// The simplicity division factors still follow `fidelity`.
    public var depth: Int? = nil

    public init() {}

    public static let fidelityRange = 0...3
    public static let simplicityRange = 0...SimplicityLevels.maximum
    public static let strokesRange = 1...1024
    public static let iterationsRange = 1...100_000
    /// No schedule is longer: 2 parts × (the most fidelity steps + 7 levels × the most per level).
    static let maximumTotalSteps = 2 * (iterationsRange.upperBound * 8)
    public static let augmentationsRange = 0...16
    public static let maximumStrokeWidth: Float = 40
    /// Raw depths some encoder accepts (each encoder narrows it: `EncoderProfile.depthRange`).
    public static let depthRange: ClosedRange<Int> = {
        let ranges = EncoderKind.allCases.map { EncoderProfile.of($0).depthRange }
        return (ranges.map(\.lowerBound).min() ?? 0)...(ranges.map(\.upperBound).max() ?? 0)
    }()

    /// Throws an error that names the valid range of the first bad value; `depths` is the
    /// encoder's range of raw depths (by default any encoder's: a session narrows it).
    public func validate(depths: ClosedRange<Int> = Self.depthRange) throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw AbstractionError(message) } }
        func within(_ r: ClosedRange<Int>) -> String { "\(r.lowerBound)…\(r.upperBound)" }
        try check(Self.fidelityRange.contains(fidelity), "fidelity must be \(within(Self.fidelityRange)), got \(fidelity)")
        try check(Self.simplicityRange.contains(simplicity), "simplicity must be \(within(Self.simplicityRange)), got \(simplicity)")
        try check(Self.strokesRange.contains(strokes), "strokes must be \(within(Self.strokesRange)), got \(strokes)")
        try check(strokeWidth > 0 && strokeWidth <= Self.maximumStrokeWidth && strokeWidth.isFinite,
                  "strokeWidth must be in (0, \(Int(Self.maximumStrokeWidth))], got \(strokeWidth)")
        try check(Self.iterationsRange.contains(iterations), "iterations must be 1…100000, got \(iterations)")
        try check(Self.iterationsRange.contains(simplicityIterations), "simplicityIterations must be 1…100000, got \(simplicityIterations)")
        try check(learningRate > 0 && learningRate <= 1 && learningRate.isFinite, "learningRate must be in (0, 1], got \(learningRate)")
        try check(Self.augmentationsRange.contains(augmentations), "augmentations must be \(within(Self.augmentationsRange)), got \(augmentations)")
        if let depth {
            try check(depths.contains(depth), "depth must be an encoder block in \(within(depths)), got \(depth)")
        }
    }

    /// What each part optimises with through an encoder (docs/algorithm.md §4.1): the compared
    /// blocks of the fidelity level (or the raw depth), the foreground's extra block, seed and
    /// GradNorm, and each part's simplicity division factor.
    public func resolve(_ profile: EncoderProfile) -> (foreground: PartSettings, background: PartSettings) {
        var background = PartSettings()
        background.strokes = strokes
        background.halfWidth = strokeWidth / 2
        background.layers = depth.map { LayerWeights([$0: 1]) } ?? profile.fidelityLevels[fidelity]
        background.seed = seed
        background.learningRate = learningRate
        background.augmentations = augmentations
        background.simplicityDivision = SimplicityLevels.backgroundDivision[fidelity]
        var foreground = background
        foreground.seed = seed &+ 1
        foreground.layers = profile.foregroundLayers(background.layers)
        foreground.gradNorm = true
        foreground.simplicityDivision = SimplicityLevels.foregroundDivision[fidelity]
        return (foreground, background)
    }
}

extension Abstraction: Codable {
    enum CodingKeys: String, CodingKey {
        case fidelity, simplicity, strokes, strokeWidth, seed, iterations, simplicityIterations, learningRate, augmentations, depth
        /// Snapshots written before the width was the SVG's kept half of it.
        case halfWidth
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fidelity = try c.decode(Int.self, forKey: .fidelity)
        simplicity = try c.decode(Int.self, forKey: .simplicity)
        strokes = try c.decode(Int.self, forKey: .strokes)
        if let width = try c.decodeIfPresent(Float.self, forKey: .strokeWidth) {
            strokeWidth = width
        } else {
            strokeWidth = 2 * (try c.decode(Float.self, forKey: .halfWidth))
        }
        seed = try c.decode(UInt64.self, forKey: .seed)
        iterations = try c.decode(Int.self, forKey: .iterations)
        simplicityIterations = try c.decode(Int.self, forKey: .simplicityIterations)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        augmentations = try c.decode(Int.self, forKey: .augmentations)
        depth = try c.decodeIfPresent(Int.self, forKey: .depth)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fidelity, forKey: .fidelity)
        try c.encode(simplicity, forKey: .simplicity)
        try c.encode(strokes, forKey: .strokes)
        try c.encode(strokeWidth, forKey: .strokeWidth)
        try c.encode(seed, forKey: .seed)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(simplicityIterations, forKey: .simplicityIterations)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(augmentations, forKey: .augmentations)
        try c.encodeIfPresent(depth, forKey: .depth)
    }
}

public struct AbstractionError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// The simplicity axis's schedule (docs/algorithm.md §5): level i aims the width loss at r₁·2^(−i·div).
public enum SimplicityLevels {
    public static let maximum = 7
    /// Division factors per fidelity level 0…3 (the reference's defaults for layers 2, 8, 11,
    /// with the comment table's value for the level between).
    public static let backgroundDivision: [Float] = [0.35, 0.45, 0.5, 0.85]
    public static let foregroundDivision: [Float] = [0.4, 0.45, 0.5, 0.9]

    public static func ratioFactor(level: Int, division: Float) -> Float {
        Float(pow(2.0, -Double(level) * Double(division)))
    }
}
