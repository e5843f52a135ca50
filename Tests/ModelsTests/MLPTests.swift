import XCTest
import Models

/// The MLP's backward against central finite differences of a loss Σ rᵢ·outᵢ, with and
/// without the sigmoid output, on a small net whose every parameter is checked.
final class MLPTests: XCTestCase {
    func check(sigmoid: Bool) {
        var mlp = MLP(sizes: [3, 6, 5, 2], sigmoidOutput: sigmoid, initialisation: .pytorchDefault, seed: 7)
        let x: [Float] = [0.3, -0.8, 0.5]
        let r: [Float] = [0.7, -1.3]
        func loss(_ m: MLP) -> Double { zip(m.forward(x).output, r).reduce(0) { $0 + Double($1.0 * $1.1) } }
        let analytic = mlp.backward(mlp.forward(x), outputGradient: r)
        XCTAssertEqual(analytic.count, mlp.parameters.count)
        let h: Float = 1e-2
        var worst = 0.0
        for i in mlp.parameters.indices {
            let p = mlp.parameters[i]
            mlp.parameters[i] = p + h
            let up = loss(mlp)
            mlp.parameters[i] = p - h
            let down = loss(mlp)
            mlp.parameters[i] = p
            let numeric = (up - down) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(1e-2, abs(numeric)))
        }
        XCTAssertLessThan(worst, 2e-2, "worst relative difference over \(mlp.parameters.count) parameters")
        XCTAssertGreaterThan(analytic.map(abs).max() ?? 0, 1e-3, "the gradient is not all zero")
    }

    func testBackwardMatchesFiniteDifferences() { check(sigmoid: false) }
    func testBackwardWithSigmoidOutputMatchesFiniteDifferences() { check(sigmoid: true) }

    func testTheSameSeedGivesTheSameNetwork() {
        let a = MLP(sizes: [2, 3, 1], initialisation: .xavier(bias: 0.01), seed: 3)
        XCTAssertEqual(a, MLP(sizes: [2, 3, 1], initialisation: .xavier(bias: 0.01), seed: 3))
        XCTAssertNotEqual(a, MLP(sizes: [2, 3, 1], initialisation: .xavier(bias: 0.01), seed: 4))
        XCTAssertEqual(Array(a.parameters[6...8]), [0.01, 0.01, 0.01], "Xavier biases are the constant")
    }
}
