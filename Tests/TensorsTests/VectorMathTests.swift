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

    /// Every count of a short chunk: loads zero-fill past the count, stores leave what follows
    /// untouched (the tail of every elementwise loop).
    func testPartialLoadsAndStoresStopAtTheCount() {
        let source: [Float] = (0..<8).map { Float($0) + 1 }
        for count in 0...8 {
            let v = source.withUnsafeBufferPointer { loadPartial($0.baseAddress!, count) }
            for lane in 0..<8 { XCTAssertEqual(v[lane], lane < count ? source[lane] : 0, "count \(count), lane \(lane)") }
            var target = [Float](repeating: -1, count: 9)
            target.withUnsafeMutableBufferPointer { storePartial(SIMD8<Float>(repeating: 7), $0.baseAddress!, count) }
            for i in 0..<9 { XCTAssertEqual(target[i], i < count ? 7 : -1, "count \(count), index \(i)") }
        }
    }

    /// The chunk spans of a parallel elementwise loop cover every value once.
    func testVectorSpansCoverEveryIndexOnce() {
        for n in [0, 1, 7, 8, 9, 16, 100_003] {
            var seen = [Int](repeating: 0, count: n)
            seen.withUnsafeMutableBufferPointer { buffer in
                let p = UncheckedSendable(buffer.baseAddress)
                parallelFor(vectorChunks(n), minChunk: 8) { chunks in
                    for i in vectorSpan(chunks, of: n) { p.value?[i] += 1 }
                }
            }
            XCTAssertEqual(seen.filter { $0 != 1 }.count, 0, "n = \(n)")
        }
    }

    enum Difference: VectorKernel {
        static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - 2 * b }
    }

    /// mapVectors applies its kernel to every value once, tails included, in place too.
    func testMapVectorsAppliesTheKernelEverywhere() {
        for n in [0, 3, 8, 13, 50_001] {
            var a = (0..<n).map { Float($0) }
            let b = (0..<n).map { Float($0 % 7) }
            let want = zip(a, b).map { $0 - 2 * $1 }
            a.withUnsafeMutableBufferPointer { ab in b.withUnsafeBufferPointer { bb in
                guard let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
                mapVectors(Difference.self, ap, bp, into: ap, count: n)
            } }
            XCTAssertEqual(a, want, "n = \(n)")
        }
    }

    func testZeroingLanesAndAddRow() {
        let v = SIMD8<Float>(1, 2, 3, 4, 5, 6, 7, 8)
        for count in 0...8 {
            let z = zeroingLanes(v, from: count)
            for lane in 0..<8 { XCTAssertEqual(z[lane], lane < count ? v[lane] : 0, "count \(count), lane \(lane)") }
        }
        for n in [0, 5, 8, 21] {
            let a = (0..<n).map { Float($0) }, b = (0..<n).map { Float(3 * $0) }
            var out = [Float](repeating: -1, count: n + 1)
            out.withUnsafeMutableBufferPointer { o in a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
                guard let op = o.baseAddress, let x = ap.baseAddress, let y = bp.baseAddress else { return }
                addRow(x, y, into: op, count: n)
            } } }
            XCTAssertEqual(Array(out[0..<n]), (0..<n).map { Float(4 * $0) }, "n = \(n)")
            XCTAssertEqual(out[n], -1, "wrote past the row, n = \(n)")
        }
    }
}
