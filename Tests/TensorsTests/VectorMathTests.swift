import XCTest
import Foundation
import Tensors

/// The vector exponential against Double's, over the whole clamped range and at its ends.
final class VectorMathTests: XCTestCase {
    func testVectorExpMatchesDoubleExp() {
        var worst = 0.0
        var x: Float = -87.3
        while x <= 88.3 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let e = vectorExp(lanes)
            for i in 0..<8 where lanes[i] <= 88.3 {
                let reference = Foundation.exp(Double(lanes[i]))
                worst = max(worst, abs(Double(e[i]) - reference) / reference)
            }
            x += 0.093
        }
        XCTAssertLessThan(worst, 4e-7, "largest relative error")
        // Beyond the range: finite, non-negative, no NaN.
        let ends = vectorExp(SIMD8<Float>(-1e30, -200, -88, 88.5, 89, 1e30, .infinity, -.infinity))
        for i in 0..<8 { XCTAssertTrue(ends[i].isFinite && ends[i] >= 0, "lane \(i): \(ends[i])") }
        XCTAssertEqual(vectorExp(SIMD8(repeating: 0))[0], 1)
    }

    func testVectorSigmoidMatchesTheDefinition() {
        let x = SIMD8<Float>(-60, -8, -1, -0.01, 0, 0.5, 3, 60)
        let s = vectorSigmoid(x)
        for i in 0..<8 {
            XCTAssertEqual(Double(s[i]), 1 / (1 + Foundation.exp(-Double(x[i]))), accuracy: 1e-7, "lane \(i)")
        }
    }
}
