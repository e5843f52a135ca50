import Foundation
import Models
import Tensors

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
