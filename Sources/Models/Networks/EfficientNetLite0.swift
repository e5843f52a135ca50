import Foundation
import Tensors

/// EfficientNet-Lite0 (ImageNet-1k), the default perceptual encoder: features after any of
/// its 16 MBConv blocks, and the gradient of a loss on those features back to the input
/// image with the weights frozen. BatchNorm is folded into the convolutions at load time.
///
/// Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 and a fixed stem (32) and
/// head (1280); convolutions use TensorFlow's SAME padding (asymmetric for stride 2).
public final class EfficientNetLite0: Sendable {
    struct Block: Sendable {
        let expand: PointwiseConv?
        let depthwise: DepthwiseConv
        let project: PointwiseConv
        let residual: Bool
    }

    let stem: Conv2D
    let blocks: [Block]
    let head: PointwiseConv
    let classifierWeight: [Float]   // [1000 × 1280]
    let classifierBias: [Float]

    public static let blockCount = 16
    /// (repeats, kernel, stride, expand ratio, in, out) per stage.
    static let stages: [(Int, Int, Int, Int, Int, Int)] = [
        (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
    ]
    static let batchNormEpsilon: Float = 1e-3

    /// Channels of the features after each block.
    public static let blockChannels: [Int] = stages.flatMap { s in Array(repeating: s.5, count: s.0) }

    public convenience init(path: String) throws {
        try self.init(checkpoint: TorchCheckpoint(path: path))
    }

    public init(checkpoint ck: TorchCheckpoint) throws {
        /// Folds BatchNorm `bn` into a conv weight laid out [out × rest].
        func folded(_ weightName: String, _ bn: String, out: Int) throws -> ([Float], [Float]) {
            let w = try ck.tensor(weightName)
            guard w.shape.first == out else { throw PickleError("\(ck.path): \(weightName) has shape \(w.shape), expected \(out) outputs") }
            let gamma = try ck.tensor("\(bn).weight", shape: [out]).data, beta = try ck.tensor("\(bn).bias", shape: [out]).data
            let mean = try ck.tensor("\(bn).running_mean", shape: [out]).data, variance = try ck.tensor("\(bn).running_var", shape: [out]).data
            let rest = w.count / out
            var weight = w.data
            var bias = [Float](repeating: 0, count: out)
            for o in 0..<out {
                let scale = gamma[o] / (variance[o] + Self.batchNormEpsilon).squareRoot()
                for i in 0..<rest { weight[o * rest + i] *= scale }
                bias[o] = beta[o] - mean[o] * scale
            }
            return (weight, bias)
        }
        let (sw, sb) = try folded("_conv_stem.weight", "_bn0", out: 32)
        guard try ck.tensor("_conv_stem.weight").shape == [32, 3, 3, 3] else { throw PickleError("\(ck.path): unexpected stem shape") }
        stem = Conv2D(weight: sw, bias: sb, inChannels: 3, outChannels: 32, kernel: 3, stride: 2, padding: nil)
        var blocks: [Block] = []
        for (repeats, k, stride, ratio, cin, cout) in Self.stages {
            for r in 0..<repeats {
                let i = blocks.count
                let inC = r == 0 ? cin : cout
                let mid = inC * ratio
                var expand: PointwiseConv? = nil
                if ratio != 1 {
                    let (w, b) = try folded("_blocks.\(i)._expand_conv.weight", "_blocks.\(i)._bn0", out: mid)
                    expand = PointwiseConv(weight: w, bias: b, inChannels: inC, outChannels: mid)
                }
                let (dw, db) = try folded("_blocks.\(i)._depthwise_conv.weight", "_blocks.\(i)._bn1", out: mid)
                guard dw.count == mid * k * k else { throw PickleError("\(ck.path): block \(i) depthwise kernel is not \(k)×\(k)") }
                let (pw, pb) = try folded("_blocks.\(i)._project_conv.weight", "_blocks.\(i)._bn2", out: cout)
                guard pw.count == cout * mid else { throw PickleError("\(ck.path): block \(i) projection has the wrong size") }
                blocks.append(Block(expand: expand,
                                    depthwise: DepthwiseConv(weight: dw, bias: db, channels: mid, kernel: k, stride: r == 0 ? stride : 1),
                                    project: PointwiseConv(weight: pw, bias: pb, inChannels: mid, outChannels: cout),
                                    residual: r > 0 || (stride == 1 && cin == cout)))
            }
        }
        self.blocks = blocks
        let (hw, hb) = try folded("_conv_head.weight", "_bn1", out: 1280)
        head = PointwiseConv(weight: hw, bias: hb, inChannels: 320, outChannels: 1280)
        classifierWeight = try ck.tensor("_fc.weight", shape: [1000, 1280]).data
        classifierBias = try ck.tensor("_fc.bias", shape: [1000]).data
    }

    /// What forward keeps so backward can run, per run of images one worker computed.
    public struct Trace: Sendable {
        struct Group: Sendable {
            var images: Range<Int>
            /// Computed with each layer spread over the workers (left over after the even split).
            var shared = false
            var inputShape: FeatureMap
            /// Where each ReLU6 passes its gradient (the backward needs no more of the
            /// activations: the weights are frozen): the stem's, each block's expansion (nil
            /// where a block has none) and its depthwise convolution's.
            var stemMask: ReLU6Mask?
            var expandedMasks: [ReLU6Mask?] = []
            var depthwiseMasks: [ReLU6Mask] = []
            var blockInputShapes: [FeatureMap] = []
        }
        var groups: [Group]
        /// Each group's features after each block computed ([group][block]).
        var groupFeatures: [[FeatureMap]]
        /// Blocks computed: 0…depth.
        public var depth: Int { (groupFeatures.first?.count ?? 0) - 1 }

        /// Features after `block` for the whole batch, joined when asked for (a loss reads
        /// one or two of the blocks computed).
        public func features(at block: Int) -> FeatureMap {
            precondition((0...depth).contains(block), "block \(block) was not computed (0…\(depth))")
            return FeatureMap(joining: groupFeatures.map { $0[block] })
        }
    }

    /// Runs the input (normalised, channel-major [3 × batch × H × W]) through block `depth`
    /// (0…15). Keeps what backward needs when `keepTrace` is set.
    ///
    /// Each worker takes whole images through every layer on its own (one parallel region
    /// per pass instead of one per layer, and the products stay single-threaded, where
    /// these thin GEMMs run best); images left over after an even split (and a single
    /// image) spread each layer over the workers.
    public func forward(_ input: FeatureMap, through depth: Int, keepTrace: Bool = true) -> Trace {
        precondition(input.channels == 3, "the encoder takes RGB input, got \(input.channels) channels")
        precondition((0..<Self.blockCount).contains(depth), "depth must be 0…\(Self.blockCount - 1), got \(depth)")
        let (runs, shared) = balancedRuns(input.batch)
        var parts = parallelMap(runs.count) { p in
            forwardGroup(input.images(runs[p]), images: runs[p], through: depth, keepTrace: keepTrace)
        }
        if let shared {
            var part = forwardGroup(input.images(shared), images: shared, through: depth, keepTrace: keepTrace)
            part.group.shared = true
            parts.append(part)
        }
        return Trace(groups: parts.map(\.group), groupFeatures: parts.map(\.features))
    }

    func forwardGroup(_ input: FeatureMap, images: Range<Int>, through depth: Int, keepTrace: Bool)
        -> (group: Trace.Group, features: [FeatureMap]) {
        var x = stem.forward(input, relu6: true)
        var group = Trace.Group(images: images, inputShape: FeatureMap(zeros: 3, batch: 0, height: input.height, width: input.width),
                                stemMask: keepTrace ? ReLU6Mask(output: x) : nil)
        group.inputShape.batch = input.batch
        var features: [FeatureMap] = []
        for i in 0...depth {
            let b = blocks[i]
            let blockInput = x
            var h = x
            if let e = b.expand {
                h = e.forward(x, relu6: true)
                group.expandedMasks.append(keepTrace ? ReLU6Mask(output: h) : nil)
            } else {
                group.expandedMasks.append(nil)
            }
            let d = b.depthwise.forward(h, relu6: true)
            let y = b.project.forward(d, residual: b.residual ? blockInput : nil)
            if keepTrace {
                group.depthwiseMasks.append(ReLU6Mask(output: d))
                group.blockInputShapes.append(FeatureMap(zeros: blockInput.channels, batch: 0, height: blockInput.height, width: blockInput.width))
            }
            features.append(y)
            x = y
        }
        return (group, features)
    }

    /// ∂L/∂input given ∂L/∂features at one or more blocks (all ≤ the traced depth).
    public func backward(_ trace: Trace, gradients: [Int: FeatureMap]) -> FeatureMap {
        guard let deepest = gradients.keys.max() else {
            let batch = trace.groups.reduce(0) { $0 + $1.inputShape.batch }
            let shape = trace.groups[0].inputShape
            return FeatureMap(zeros: 3, batch: batch, height: shape.height, width: shape.width)
        }
        func inputGradient(_ group: Trace.Group) -> FeatureMap {
            let mine = gradients.mapValues { $0.images(group.images) }
            var g = backward(group, from: deepest, gradient: mine[deepest]!, extra: mine, down: 0)
            guard let stemMask = group.stemMask else { preconditionFailure("backward through a pass that kept no trace") }
            Activation.relu6Backward(&g, mask: stemMask)
            return stem.backward(g, inputShape: group.inputShape)
        }
        // The groups one worker each computed forward, in parallel; a shared one after.
        let perWorker = trace.groups.filter { !$0.shared }, shared = trace.groups.filter(\.shared)
        let parts = parallelMap(perWorker.count) { inputGradient(perWorker[$0]) } + shared.map(inputGradient)
        return FeatureMap(joining: parts)
    }

    /// Back-propagates through blocks `from`…`down`, returning ∂L/∂(input of block `down`).
    func backward(_ trace: Trace.Group, from deepest: Int, gradient: FeatureMap, extra gradients: [Int: FeatureMap],
                  down: Int) -> FeatureMap {
        precondition(deepest < trace.depthwiseMasks.count, "gradient at block \(deepest) but the trace stops at \(trace.depthwiseMasks.count - 1)")
        var g = gradient
        for i in stride(from: deepest, through: down, by: -1) {
            if i != deepest, let extra = gradients[i] {
                g.data.withUnsafeMutableBufferPointer { gp in for j in gp.indices { gp[j] += extra.data[j] } }
            }
            let b = blocks[i]
            let dd = b.project.backward(g, relu6Mask: trace.depthwiseMasks[i])
            let hIn = trace.blockInputShapes[i].height, wIn = trace.blockInputShapes[i].width
            let expanded = b.expand == nil ? nil : trace.expandedMasks[i]
            let dh = b.depthwise.backward(dd, inputHeight: hIn, inputWidth: wIn, relu6Mask: expanded)
            var dx: FeatureMap
            if let e = b.expand {
                dx = e.backward(dh, residual: b.residual ? g : nil)
            } else {
                dx = dh
                if b.residual { dx.data.withUnsafeMutableBufferPointer { dp in for j in dp.indices { dp[j] += g.data[j] } } }
            }
            g = dx
        }
        return g
    }

    /// Multiply-adds ×2 of a forward pass through block `depth` for one image (backward to
    /// the input costs about the same again).
    public static func flops(height: Int, width: Int, through depth: Int) -> Double {
        var h = (height + 1) / 2, w = (width + 1) / 2
        var total = Double(h * w * 32 * 27 * 2)
        var i = 0
        for (repeats, k, stride, ratio, cin, cout) in stages {
            for r in 0..<repeats {
                guard i <= depth else { return total }
                let inC = r == 0 ? cin : cout, mid = inC * ratio
                if ratio != 1 { total += Double(h * w * inC * mid * 2) }
                if r == 0 && stride == 2 { h = (h + 1) / 2; w = (w + 1) / 2 }
                total += Double(h * w * mid * k * k * 2) + Double(h * w * mid * cout * 2)
                i += 1
            }
        }
        return total
    }

    /// ImageNet class probabilities for one normalised image [3 × H × W] (channel-major, batch 1).
    public func classify(_ input: FeatureMap) -> [Float] {
        let trace = forward(input, through: Self.blockCount - 1, keepTrace: false)
        return probabilities(logits: logits(trace.features(at: Self.blockCount - 1)).logits)
    }

    func probabilities(logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        let e = logits.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    /// Class logits from the last block's features (batch 1), with the head activation kept.
    func logits(_ last: FeatureMap) -> (logits: [Float], head: FeatureMap) {
        var h = head.forward(last)
        Activation.relu6(&h)
        let plane = h.plane
        var pooled = [Float](repeating: 0, count: 1280)
        for c in 0..<1280 {
            var s: Float = 0
            for i in 0..<plane { s += h.data[c * plane * h.batch + i] }
            pooled[c] = s / Float(plane)
        }
        var logits = classifierBias
        for o in 0..<1000 {
            var s: Float = 0
            for c in 0..<1280 { s += classifierWeight[o * 1280 + c] * pooled[c] }
            logits[o] += s
        }
        return (logits, h)
    }

    /// ∂logit[k]/∂(last block's features), given the head activation from `logits`.
    func logitGradient(class k: Int, head h: FeatureMap) -> FeatureMap {
        var dh = FeatureMap(zeros: 1280, batch: 1, height: h.height, width: h.width)
        let plane = h.plane
        for c in 0..<1280 {
            let v = classifierWeight[k * 1280 + c] / Float(plane)
            for i in 0..<plane { dh.data[c * plane + i] = v }
        }
        Activation.relu6Backward(&dh, mask: ReLU6Mask(output: h))
        return head.backward(dh)
    }
}

extension EfficientNetLite0 {
    /// The block whose activations make the saliency map: the last (stride 32, 7×7 at 224²,
    /// like CLIP ViT-B/32's patch grid), where Grad-CAM is most object-centred.
    public static let saliencyBlock = 15

    /// Where the network looks, for placing the first strokes (CLIPascene uses CLIP's
    /// attention; this is the default encoder's stand-in): Grad-CAM for the top ImageNet
    /// class at `saliencyBlock`: activations weighted by the spatial mean of the class
    /// logit's gradient, summed over channels, negative parts dropped. Returns the coarse
    /// map (side × side) for one normalised image.
    public func saliency(_ input: FeatureMap) -> (map: [Float], side: Int) {
        precondition(input.batch == 1, "saliency takes one image")
        let trace = forward(input, through: Self.blockCount - 1)
        let (logits, h) = self.logits(trace.features(at: Self.blockCount - 1))
        let top = logits.indices.max { logits[$0] < logits[$1] } ?? 0
        let dLast = logitGradient(class: top, head: h)
        let g = backward(trace.groups[0], from: Self.blockCount - 1, gradient: dLast, extra: [:], down: Self.saliencyBlock + 1)
        let f = trace.features(at: Self.saliencyBlock)
        let plane = f.plane
        var cam = [Float](repeating: 0, count: plane)
        for c in 0..<f.channels {
            var alpha: Float = 0
            for i in 0..<plane { alpha += g.data[c * plane + i] }
            alpha /= Float(plane)
            for i in 0..<plane { cam[i] += alpha * f.data[c * plane + i] }
        }
        return (cam.map { max(0, $0) }, f.width)
    }
}
