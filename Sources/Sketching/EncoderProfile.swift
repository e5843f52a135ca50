import Models

/// Which encoder blocks a fidelity level compares, and with what weights.
public struct LayerWeights: Sendable, Equatable, Codable {
    public var weights: [Int: Float]
    public init(_ weights: [Int: Float]) { self.weights = weights }
    public var deepest: Int { weights.keys.max() ?? 0 }
    /// The blocks shallow to deep: the order losses over blocks are added in. A dictionary's
    /// own order changes from one process to the next (Swift seeds its hashing per process).
    public var inBlockOrder: [(block: Int, weight: Float)] {
        weights.sorted { $0.key < $1.key }.map { (block: $0.key, weight: $0.value) }
    }
}

/// The default encoder's fidelity levels, precise → loose: pairs of EfficientNet-Lite0 blocks
/// (on a 224² canvas: 2 and 5 at 56² and 14², 5 and 8 both at 14², 8 and 12 at 14² and 7²,
/// 12 and 15 both at 7², the last with 320 channels).
/// Chosen by experiment over four scenes against the earlier 2+5, 5+8, 8+10, 10+14: the
/// deeper last two levels make each column measurably looser than the one before (recall and
/// ink, docs/quality.md "Fidelity levels").
public enum FidelityLevels {
    public static let efficientNet: [LayerWeights] = [
        LayerWeights([2: 1, 5: 1]),
        LayerWeights([5: 1, 8: 1]),
        LayerWeights([8: 1, 12: 1]),
        LayerWeights([12: 1, 15: 1]),
    ]

    /// CLIP ViT-B/32's levels: one block each (docs/algorithm.md §4).
    public static let clip: [LayerWeights] = [LayerWeights([2: 1]), LayerWeights([7: 1]), LayerWeights([8: 1]), LayerWeights([11: 1])]
}

/// How the engine uses an encoder: the blocks each fidelity level compares, what the
/// foreground adds, how features are compared, and which raw depths are allowed.
public struct EncoderProfile: Sendable {
    public let fidelityLevels: [LayerWeights]
    /// Added to the foreground's blocks at every level (CLIP: block 4 at 0.5, docs/algorithm.md §4).
    public let foregroundExtra: [Int: Float]
    /// Compare unit-length channel vectors (LPIPS-like, the default encoder) or the raw
    /// features (CLIP's L2 over every token and channel, docs/algorithm.md §4).
    public let channelNormalised: Bool
    public let depthRange: ClosedRange<Int>

    public static func of(_ encoder: any PerceptualEncoder) -> EncoderProfile {
        of(encoder.kind, blocks: encoder.blockCount)
    }

    /// The profile of an encoder before its weights are loaded (the full-size network's
    /// blocks), e.g. to check a raw depth on the command line.
    public static func of(_ kind: EncoderKind) -> EncoderProfile { of(kind, blocks: kind.blockCount) }

    static func of(_ kind: EncoderKind, blocks: Int) -> EncoderProfile {
        let last = blocks - 1
        switch kind {
        case .clipViTB32:
            // Blocks 2, 7, 8, 11 (docs/algorithm.md §4); a smaller tower (tests) clamps them to its depth.
            return EncoderProfile(fidelityLevels: FidelityLevels.clip.map { level in
                                      LayerWeights(Dictionary(level.weights.map { (min($0.key, last), $0.value) }, uniquingKeysWith: +)) },
                                  foregroundExtra: [min(4, last): 0.5], channelNormalised: false, depthRange: 0...last)
        case .efficientNetLite0:
            return EncoderProfile(fidelityLevels: FidelityLevels.efficientNet, foregroundExtra: [:], channelNormalised: true,
                                  depthRange: 1...last)
        }
    }

    /// The foreground's blocks for a part's `layers`.
    public func foregroundLayers(_ layers: LayerWeights) -> LayerWeights {
        LayerWeights(layers.weights.merging(foregroundExtra, uniquingKeysWith: +))
    }
}
