import Imaging
import Tensors

/// A perceptual network the engine compares sketches through: features after any block
/// for a batch of normalised images, the input gradient of a loss on them with the weights
/// frozen, and a coarse saliency map for placing the first strokes.
public protocol PerceptualEncoder: AnyObject, Sendable {
    var kind: EncoderKind { get }
    var normalisation: EncoderInput { get }
    /// Blocks whose output can be compared: 0..<blockCount.
    var blockCount: Int { get }
    /// The square input side the network requires (CLIP's positional grid), or nil for any size.
    var requiredSide: Int? { get }
    /// Runs blocks 0…depth; the pass gives the features after any of them.
    func encode(_ input: FeatureMap, through depth: Int, keepTrace: Bool) -> EncoderPass
    /// ∂L/∂input given ∂L/∂features at some of the encoded blocks (`keepTrace` pass).
    func inputGradient(_ pass: EncoderPass, gradients: [Int: FeatureMap]) -> FeatureMap
    /// Where the network looks in one normalised image: a side × side map, coarse.
    func saliencyGrid(_ input: FeatureMap) -> (map: [Float], side: Int)
}

extension PerceptualEncoder {
    /// The name clients use.
    public var name: String { kind.rawValue }
}

/// One forward pass: its features, plus what the encoder keeps for its backward.
public struct EncoderPass: Sendable {
    /// The deepest block computed.
    public let depth: Int
    let state: any Sendable
    private let makeFeatures: @Sendable (Int) -> FeatureMap

    init(depth: Int, state: any Sendable, features: @escaping @Sendable (Int) -> FeatureMap) {
        self.depth = depth
        self.state = state
        makeFeatures = features
    }

    /// Features after `block` (0…depth), channel-major [channels × batch × H × W]. Made on
    /// request: the loss reads one or two of the blocks computed, and laying out every block
    /// cost CLIP ~1.3 % of a step.
    public func features(at block: Int) -> FeatureMap {
        precondition((0...depth).contains(block), "block \(block) was not encoded (0…\(depth))")
        return makeFeatures(block)
    }
}

extension EfficientNetLite0: PerceptualEncoder {
    public var kind: EncoderKind { .efficientNetLite0 }
    public var normalisation: EncoderInput { .imageNet }
    public var blockCount: Int { Self.blockCount }
    public var requiredSide: Int? { nil }

    public func encode(_ input: FeatureMap, through depth: Int, keepTrace: Bool) -> EncoderPass {
        let trace = forward(input, through: depth, keepTrace: keepTrace)
        return EncoderPass(depth: depth, state: trace, features: { trace.features(at: $0) })
    }

    public func inputGradient(_ pass: EncoderPass, gradients: [Int: FeatureMap]) -> FeatureMap {
        guard let trace = pass.state as? Trace else { preconditionFailure("not an EfficientNet-Lite0 pass") }
        return backward(trace, gradients: gradients)
    }

    public func saliencyGrid(_ input: FeatureMap) -> (map: [Float], side: Int) { saliency(input) }
}

extension CLIPVisual: PerceptualEncoder {
    public var kind: EncoderKind { .clipViTB32 }
    public var normalisation: EncoderInput { Self.normalisation }
    public var blockCount: Int { layers }
    public var requiredSide: Int? { resolution }

    /// Token features as channel-major maps: channels = width, H = tokens, W = 1.
    public func encode(_ input: FeatureMap, through depth: Int, keepTrace: Bool) -> EncoderPass {
        let trace = forward(input, through: depth, keepTrace: keepTrace)
        let b = trace.batch, t = tokens, w = width
        return EncoderPass(depth: depth, state: trace) { block in
            let f = trace.features[block]
            var out = FeatureMap(uninitialized: w, batch: b, height: t, width: 1)
            for img in 0..<b { for tok in 0..<t { for c in 0..<w { out.data[(c * b + img) * t + tok] = f[(img * t + tok) * w + c] } } }
            return out
        }
    }

    public func inputGradient(_ pass: EncoderPass, gradients: [Int: FeatureMap]) -> FeatureMap {
        guard let trace = pass.state as? Trace else { preconditionFailure("not a CLIP pass") }
        let b = trace.batch, t = tokens, w = width
        let rows = gradients.mapValues { g -> [Float] in
            var out = [Float](unspecified: b * t * w)
            for img in 0..<b { for tok in 0..<t { for c in 0..<w { out[(img * t + tok) * w + c] = g.data[(c * b + img) * t + tok] } } }
            return out
        }
        return backward(trace, gradients: rows)
    }

    public func saliencyGrid(_ input: FeatureMap) -> (map: [Float], side: Int) { attentionSaliency(input) }
}
