import Foundation
import Models
import Tensors

/// Which encoder blocks a fidelity level compares, and with what weights.
public struct LayerWeights: Sendable, Equatable, Codable {
    public var weights: [Int: Float]
    public init(_ weights: [Int: Float]) { self.weights = weights }
    public var deepest: Int { weights.keys.max() ?? 0 }
}

/// The default encoder's fidelity levels, precise → loose. Provisional: chosen from the
/// spec's prototype (normalised features of blocks 2 + 5 drew a recognisable bull) and
/// moved deeper one stage per level; to be tuned by looking at results.
public enum FidelityLevels {
    public static let efficientNet: [LayerWeights] = [
        LayerWeights([2: 1, 5: 1]),
        LayerWeights([5: 1, 8: 1]),
        LayerWeights([8: 1, 10: 1]),
        LayerWeights([10: 1, 14: 1]),
    ]

    /// CLIP ViT-B/32's levels: one block each (spec §4).
    public static let clip: [LayerWeights] = [LayerWeights([2: 1]), LayerWeights([7: 1]), LayerWeights([8: 1]), LayerWeights([11: 1])]
}

/// How the engine uses an encoder: the blocks each fidelity level compares, what the
/// foreground adds, how features are compared, and which raw depths are allowed.
public struct EncoderProfile: Sendable {
    public let fidelityLevels: [LayerWeights]
    /// Added to the foreground's blocks at every level (CLIP: block 4 at 0.5, spec §4).
    public let foregroundExtra: [Int: Float]
    /// Compare unit-length channel vectors (LPIPS-like, the default encoder) or the raw
    /// features (CLIP's L2 over every token and channel, spec §4).
    public let channelNormalised: Bool
    public let depthRange: ClosedRange<Int>

    public static func of(_ encoder: any PerceptualEncoder) -> EncoderProfile {
        named(encoder.name, blocks: encoder.blockCount)
    }

    /// The profile of an encoder known by name, before its weights are loaded (the full-size
    /// networks' block counts), e.g. to check a raw depth on the command line.
    public static func named(_ name: String) -> EncoderProfile? {
        let blocks = ["efficientnet-lite0": EfficientNetLite0.blockCount, "clip-vit-b32": CLIPVisual.officialLayers][name]
        return blocks.map { named(name, blocks: $0) }
    }

    static func named(_ name: String, blocks: Int) -> EncoderProfile {
        let last = blocks - 1
        switch name {
        case "clip-vit-b32":
            // Blocks 2, 7, 8, 11 (spec §4); a smaller tower (tests) clamps them to its depth.
            return EncoderProfile(fidelityLevels: FidelityLevels.clip.map { level in
                                      LayerWeights(Dictionary(level.weights.map { (min($0.key, last), $0.value) }, uniquingKeysWith: +)) },
                                  foregroundExtra: [min(4, last): 0.5], channelNormalised: false, depthRange: 0...last)
        default:
            return EncoderProfile(fidelityLevels: FidelityLevels.efficientNet, foregroundExtra: [:], channelNormalised: true,
                                  depthRange: 1...last)
        }
    }

    /// The foreground's blocks for a part's `layers`.
    public func foregroundLayers(_ layers: LayerWeights) -> LayerWeights {
        LayerWeights(layers.weights.merging(foregroundExtra, uniquingKeysWith: +))
    }
}

/// L2 between channel-normalised feature maps (unit length across channels at each
/// position, as LPIPS does), averaged over positions and images, summed over blocks.
enum PerceptualLoss {
    static let epsilon: Float = 1e-10

    /// Normalises each position's channel vector; returns the normalised map and the norms.
    static func normalised(_ f: FeatureMap) -> (FeatureMap, [Float]) {
        let cols = f.columns
        var norms = [Float](repeating: 0, count: cols)
        for c in 0..<f.channels { for j in 0..<cols { let v = f.data[c * cols + j]; norms[j] += v * v } }
        for j in 0..<cols { norms[j] = norms[j].squareRoot() + epsilon }
        var out = f
        for c in 0..<f.channels { for j in 0..<cols { out.data[c * cols + j] /= norms[j] } }
        return (out, norms)
    }

    /// Σ (s − t)² over everything and over image 0 alone (the first plane of each channel's
    /// row), with g = 2 (s − t) · scale. Walked channel by channel, in index order as before,
    /// without a division per value to tell image 0 apart.
    static func squaredDifferences(_ s: FeatureMap, _ t: FeatureMap, scale: Float, into g: inout FeatureMap) -> (Float, Float) {
        let cols = s.columns, plane = s.plane
        var loss: Float = 0, first: Float = 0
        s.data.withUnsafeBufferPointer { sb in t.data.withUnsafeBufferPointer { tb in g.data.withUnsafeMutableBufferPointer { gb in
            for c in 0..<s.channels {
                let row = c * cols
                for j in 0..<cols {
                    let d = sb[row + j] - tb[row + j]
                    loss += d * d
                    if j < plane { first += d * d }
                    gb[row + j] = 2 * d * scale
                }
            }
        } } }
        return (loss, first)
    }

    /// CLIP's loss: the mean of squared differences over every image, token and channel.
    static func plainLossAndGradient(sketch s: FeatureMap, target t: FeatureMap, weight: Float)
        -> (loss: Float, gradient: FeatureMap, firstImageLoss: Float) {
        let cols = s.columns, plane = s.plane
        let scale = weight / Float(s.count)
        var g = s
        let (loss, first) = squaredDifferences(s, t, scale: scale, into: &g)
        return (loss * scale, g, first * weight / Float(s.channels * plane))
    }

    /// Loss of sketch features against target features (same shape), ∂loss/∂sketch features,
    /// and the loss of image 0 alone (the un-augmented view: the reference's eval loss).
    static func lossAndGradient(sketch: FeatureMap, target: FeatureMap, weight: Float, channelNormalised: Bool = true)
        -> (loss: Float, gradient: FeatureMap, firstImageLoss: Float) {
        if !channelNormalised { return plainLossAndGradient(sketch: sketch, target: target, weight: weight) }
        let (s, norms) = normalised(sketch)
        let (t, _) = normalised(target)
        let cols = s.columns, plane = s.plane
        let scale = weight / Float(cols)
        var g = s
        let (loss, first) = squaredDifferences(s, t, scale: scale, into: &g)
        // Through the normalisation: ∂/∂f = (g − f̂ (f̂·g)) / ‖f‖.
        var dot = [Float](repeating: 0, count: cols)
        for c in 0..<s.channels { for j in 0..<cols { dot[j] += s.data[c * cols + j] * g.data[c * cols + j] } }
        var df = g
        for c in 0..<s.channels {
            for j in 0..<cols {
                let i = c * cols + j
                df.data[i] = (g.data[i] - s.data[i] * dot[j]) / norms[j]
            }
        }
        return (loss * scale, df, first * weight / Float(plane))
    }
}

/// The simplicity axis's schedule (spec §5): level i aims the width loss at r₁·2^(−i·div).
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
