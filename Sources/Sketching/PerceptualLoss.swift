import Foundation
import Models
import Tensors

/// Which encoder blocks a fidelity level compares, and with what weights.
public struct LayerWeights: Sendable, Equatable, Codable {
    public var weights: [Int: Float]
    public init(_ weights: [Int: Float]) { self.weights = weights }
    public var deepest: Int { weights.keys.max() ?? 0 }
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
            // Blocks 2, 7, 8, 11 (docs/algorithm.md §4); a smaller tower (tests) clamps them to its depth.
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
public enum PerceptualLoss {
    static let epsilon: Float = 1e-10

    /// CLIP's loss: the mean of squared differences over every image, token and channel.
    /// Walked channel row by channel row, so image 0 (the first plane of each row) is told
    /// apart by the column alone.
    static func plainLossAndGradient(sketch s: FeatureMap, target t: FeatureMap, weight: Float)
        -> (loss: Float, gradient: FeatureMap, firstImageLoss: Float) {
        let cols = s.columns, plane = s.plane
        let scale = weight / Float(s.count)
        var loss: Float = 0, first: Float = 0
        var g = s
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
        return (loss * scale, g, first * weight / Float(s.channels * plane))
    }

    /// Columns per block of the channel-normalised loss: blocks run on the workers, and their
    /// partial sums are added in block order, so the result does not depend on the threads.
    static let columnBlock = 1024

    /// Loss of sketch features against target features (same shape), ∂loss/∂sketch features,
    /// and the loss of image 0 alone (the un-augmented view: the reference's eval loss).
    public static func lossAndGradient(sketch: FeatureMap, target: FeatureMap, weight: Float, channelNormalised: Bool = true)
        -> (loss: Float, gradient: FeatureMap, firstImageLoss: Float) {
        if !channelNormalised { return plainLossAndGradient(sketch: sketch, target: target, weight: weight) }
        precondition(sketch.data.count == target.data.count, "sketch and target features differ in shape")
        let cols = sketch.columns, plane = sketch.plane, channels = sketch.channels
        let scale = weight / Float(cols)
        let blocks = (cols + columnBlock - 1) / columnBlock
        var df = FeatureMap(uninitialized: channels, batch: sketch.batch, height: sketch.height, width: sketch.width)
        var partial = [Float](repeating: 0, count: 2 * blocks)   // (loss, image-0 loss) per block
        sketch.data.withUnsafeBufferPointer { sb in target.data.withUnsafeBufferPointer { tb in
        df.data.withUnsafeMutableBufferPointer { db in partial.withUnsafeMutableBufferPointer { pb in
            guard let s0 = sb.baseAddress, let t0 = tb.baseAddress, let d0 = db.baseAddress, let p0 = pb.baseAddress else { return }
            let (sp, tp, dp, pp) = (UncheckedSendable(s0), UncheckedSendable(t0), UncheckedSendable(d0), UncheckedSendable(p0))
            parallelFor(blocks) { range in
                var sNorm = [Float](repeating: 0, count: columnBlock), tNorm = sNorm, dot = sNorm
                for block in range {
                    let j0 = block * columnBlock, n = min(columnBlock, cols - j0)
                    for j in 0..<n { sNorm[j] = 0; tNorm[j] = 0; dot[j] = 0 }
                    // ‖f‖ of each position's channel vector, sketch and target.
                    for c in 0..<channels {
                        let sr = sp.value + c * cols + j0, tr = tp.value + c * cols + j0
                        for j in 0..<n { sNorm[j] += sr[j] * sr[j]; tNorm[j] += tr[j] * tr[j] }
                    }
                    for j in 0..<n { sNorm[j] = sNorm[j].squareRoot() + epsilon; tNorm[j] = tNorm[j].squareRoot() + epsilon }
                    // d = f̂ − t̂, g = 2 d · scale (kept in df for now), f̂·g per position.
                    var loss: Float = 0, first: Float = 0
                    for c in 0..<channels {
                        let sr = sp.value + c * cols + j0, tr = tp.value + c * cols + j0, gr = dp.value + c * cols + j0
                        for j in 0..<n {
                            let sh = sr[j] / sNorm[j]
                            let d = sh - tr[j] / tNorm[j]
                            loss += d * d
                            if j0 + j < plane { first += d * d }   // image 0 is the first plane of each row
                            let g = 2 * d * scale
                            gr[j] = g
                            dot[j] += sh * g
                        }
                    }
                    // Through the normalisation: ∂/∂f = (g − f̂ (f̂·g)) / ‖f‖.
                    for c in 0..<channels {
                        let sr = sp.value + c * cols + j0, gr = dp.value + c * cols + j0
                        for j in 0..<n { gr[j] = (gr[j] - sr[j] / sNorm[j] * dot[j]) / sNorm[j] }
                    }
                    pp.value[2 * block] = loss
                    pp.value[2 * block + 1] = first
                }
            }
        } } } }
        var loss: Float = 0, first: Float = 0
        for block in 0..<blocks { loss += partial[2 * block]; first += partial[2 * block + 1] }
        return (loss * scale, df, first * weight / Float(plane))
    }
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
