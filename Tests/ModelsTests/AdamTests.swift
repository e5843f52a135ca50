import XCTest
import Models
import Tensors
import TestSupport

/// Adam against its textbook rule (PyTorch's form), written out scalar by scalar here: the
/// library's eight-lane, multi-threaded update must give the same bits.
final class AdamTests: XCTestCase {
    func testMatchesTheScalarRuleBitForBit() {
        for count in [1, 7, 8, 1003, 40_003] {
            var rng = SeededRandom(77)
            func next() -> Float { rng.centred() }
            var params = (0..<count).map { _ in next() }
            var expected = params
            var m = [Float](repeating: 0, count: count), v = m
            var adam = Adam(count: count, learningRate: 1e-3)
            for step in 1...4 {
                let g = (0..<count).map { _ in next() * Float(step) }
                adam.update(&params, gradients: g)
                let c1 = 1 - Float(pow(Double(Float(0.9)), Double(step))), c2 = 1 - Float(pow(Double(Float(0.999)), Double(step)))
                for i in 0..<count {
                    m[i] = 0.9 * m[i] + (1 - 0.9) * g[i]
                    v[i] = 0.999 * v[i] + (1 - 0.999) * g[i] * g[i]
                    expected[i] -= (1e-3 / c1) * m[i] / (v[i].squareRoot() / c2.squareRoot() + 1e-8)
                }
                XCTAssertEqual(params, expected, "count \(count), step \(step)")
            }
            XCTAssertEqual(adam.m, m)
            XCTAssertEqual(adam.v, v)
        }
    }
}
