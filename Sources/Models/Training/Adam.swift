import Foundation
import Tensors

/// Adam (Kingma & Ba) over one flat parameter vector, with PyTorch's defaults and update rule.
public struct Adam: Codable, Sendable, Equatable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public private(set) var step: Int = 0
    public private(set) var m: [Float]
    public private(set) var v: [Float]

    public init(count: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    /// An optimiser resumed from saved moments (snapshots).
    public init(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, step: Int, m: [Float], v: [Float]) {
        precondition(m.count == v.count, "Adam moments differ in size")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.step = step
        self.m = m
        self.v = v
    }

    /// One step: params −= lr · m̂ / (√v̂ + ε).
    public mutating func update(_ params: inout [Float], gradients g: [Float]) {
        precondition(params.count == m.count && g.count == m.count,
                     "Adam holds \(m.count) parameters, got \(params.count) values and \(g.count) gradients")
        step += 1
        let b1 = beta1, b2 = beta2
        let c1 = 1 - Float(pow(Double(b1), Double(step)))
        let c2 = 1 - Float(pow(Double(b2), Double(step)))
        let stepSize = learningRate / c1
        let c2root = c2.squareRoot(), eps = epsilon
        // Eight lanes at a time on the workers, each lane the same operations in the same
        // order as the scalar rule (no fused multiply-adds), so results are bit for bit the same.
        let n = params.count
        params.withUnsafeMutableBufferPointer { pb in m.withUnsafeMutableBufferPointer { mb in
        v.withUnsafeMutableBufferPointer { vb in g.withUnsafeBufferPointer { gb in
            guard let p0 = pb.baseAddress, let m0 = mb.baseAddress, let v0 = vb.baseAddress, let g0 = gb.baseAddress else { return }
            let (ps, ms, vs, gs) = (UncheckedSendable(p0), UncheckedSendable(m0), UncheckedSendable(v0), UncheckedSendable(g0))
            parallelFor(vectorChunks(n), minChunk: 2048) { chunks in
                let span = vectorSpan(chunks, of: n)
                for i in stride(from: span.lowerBound, to: span.upperBound, by: 8) {
                    let k = min(8, span.upperBound - i)
                    let gi = loadPartial(gs.value + i, k)
                    let mi = b1 * loadPartial(ms.value + i, k) + (1 - b1) * gi
                    let vi = b2 * loadPartial(vs.value + i, k) + (1 - b2) * gi * gi
                    storePartial(mi, ms.value + i, k)
                    storePartial(vi, vs.value + i, k)
                    storePartial(loadPartial(ps.value + i, k) - stepSize * mi / (vi.squareRoot() / c2root + eps), ps.value + i, k)
                }
            }
        } } } }
    }
}
