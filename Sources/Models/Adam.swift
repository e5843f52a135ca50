import Foundation

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
        let c2root = c2.squareRoot()
        for i in params.indices {
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            params[i] -= stepSize * m[i] / (v[i].squareRoot() / c2root + epsilon)
        }
    }
}
