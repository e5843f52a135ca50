import Foundation
import Tensors

/// A small fully connected network trained on the CPU: Linear layers with SELU between them
/// (and an optional sigmoid at the end), for one input vector at a time. All weights and
/// biases live in one flat vector so one Adam optimises them together.
public struct MLP: Codable, Sendable, Equatable {
    public let sizes: [Int]
    public let sigmoidOutput: Bool
    /// Per layer: weight [out × in] row-major, then bias [out].
    public var parameters: [Float]

    static let seluLambda: Float = 1.0507009873554805
    static let seluAlpha: Float = 1.6732632423543772

    public enum Initialisation: Sendable {
        /// PyTorch's Linear default: U(±1/√fan_in) for weights and biases.
        case pytorchDefault
        /// Xavier-uniform weights, constant biases.
        case xavier(bias: Float)
    }

    public init(sizes: [Int], sigmoidOutput: Bool = false, initialisation: Initialisation, seed: UInt64) {
        precondition(sizes.count >= 2, "an MLP needs at least an input and an output size")
        self.sizes = sizes
        self.sigmoidOutput = sigmoidOutput
        var rng = SeededRandom(seed)
        var p: [Float] = []
        for l in 0..<(sizes.count - 1) {
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            switch initialisation {
            case .pytorchDefault:
                let bound = 1 / Float(fanIn).squareRoot()
                for _ in 0..<(fanIn * fanOut) { p.append(rng.uniform(-bound, bound)) }
                for _ in 0..<fanOut { p.append(rng.uniform(-bound, bound)) }
            case .xavier(let bias):
                let bound = (6 / Float(fanIn + fanOut)).squareRoot()
                for _ in 0..<(fanIn * fanOut) { p.append(rng.uniform(-bound, bound)) }
                p += [Float](repeating: bias, count: fanOut)
            }
        }
        parameters = p
    }

    /// Activations kept by forward for backward.
    public struct Trace: Sendable {
        var inputs: [[Float]] = []     // input to each layer
        var preActivations: [[Float]] = []
        public var output: [Float] = []
    }

    func offsets(_ l: Int) -> (w: Int, b: Int) {
        var o = 0
        for i in 0..<l { o += sizes[i] * sizes[i + 1] + sizes[i + 1] }
        return (o, o + sizes[l] * sizes[l + 1])
    }

    public func forward(_ x: [Float]) -> Trace {
        precondition(x.count == sizes[0], "MLP input has \(x.count) values, expected \(sizes[0])")
        var trace = Trace()
        var h = x
        for l in 0..<(sizes.count - 1) {
            let (wo, bo) = offsets(l)
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            var z = Array(parameters[bo..<(bo + fanOut)])
            parameters.withUnsafeBufferPointer { p in
                h.withUnsafeBufferPointer { hp in
                    z.withUnsafeMutableBufferPointer { zp in
                        sgemm(m: fanOut, n: 1, k: fanIn, a: p.baseAddress! + wo, lda: fanIn, b: hp.baseAddress!, ldb: 1,
                              beta: 1, c: zp.baseAddress!, ldc: 1)
                    }
                }
            }
            trace.inputs.append(h)
            trace.preActivations.append(z)
            let last = l == sizes.count - 2
            if !last {
                h = z.map { $0 > 0 ? Self.seluLambda * $0 : Self.seluLambda * Self.seluAlpha * (Foundation.exp($0) - 1) }
            } else {
                h = sigmoidOutput ? z.map { 1 / (1 + Foundation.exp(-$0)) } : z
            }
        }
        trace.output = h
        return trace
    }

    /// Gradients of the loss for the parameters (same layout as `parameters`) given ∂L/∂output.
    public func backward(_ trace: Trace, outputGradient: [Float]) -> [Float] {
        var grad = [Float](repeating: 0, count: parameters.count)
        var g = outputGradient
        for l in stride(from: sizes.count - 2, through: 0, by: -1) {
            let (wo, bo) = offsets(l)
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            let z = trace.preActivations[l]
            if l == sizes.count - 2 {
                if sigmoidOutput {
                    for i in 0..<fanOut { let s = trace.output[i]; g[i] *= s * (1 - s) }
                }
            } else {
                for i in 0..<fanOut {
                    g[i] *= z[i] > 0 ? Self.seluLambda : Self.seluLambda * Self.seluAlpha * Foundation.exp(z[i])
                }
            }
            let input = trace.inputs[l]
            // dW = g ⊗ input, db = g; rows on the workers (a million values per layer, written
            // once: the step's largest serial pass before).
            grad.withUnsafeMutableBufferPointer { gp in g.withUnsafeBufferPointer { gb in input.withUnsafeBufferPointer { ib in
                let (gs, go, xs) = (UncheckedSendable(gp.baseAddress!), UncheckedSendable(gb.baseAddress!), UncheckedSendable(ib.baseAddress!))
                parallelFor(fanOut, minChunk: max(1, 65_536 / max(1, fanIn))) { rows in
                    for o in rows {
                        let scale = go.value[o]
                        if scale == 0 { continue }
                        let row = gs.value + wo + o * fanIn
                        for i in 0..<fanIn { row[i] = scale * xs.value[i] }
                        gs.value[bo + o] = scale
                    }
                }
            } } }
            if l > 0 {
                var dx = [Float](repeating: 0, count: fanIn)
                parameters.withUnsafeBufferPointer { p in
                    g.withUnsafeBufferPointer { gp in
                        dx.withUnsafeMutableBufferPointer { dp in
                            sgemm(transA: true, m: fanIn, n: 1, k: fanOut, a: p.baseAddress! + wo, lda: fanIn,
                                  b: gp.baseAddress!, ldb: 1, c: dp.baseAddress!, ldc: 1)
                        }
                    }
                }
                g = dx
            }
        }
        return grad
    }
}
