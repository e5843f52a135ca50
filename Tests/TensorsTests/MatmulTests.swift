import XCTest
import Tensors
import TestSupport

final class MatmulTests: XCTestCase {

    func naive(_ a: Tensor, _ b: Tensor, _ ta: Bool, _ tb: Bool) -> Tensor {
        let m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1]
        let n = tb ? b.shape[0] : b.shape[1]
        var c = Tensor(zeros: [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let av = ta ? a[p, i] : a[i, p]
                    let bv = tb ? b[j, p] : b[p, j]
                    s += Double(av) * Double(bv)
                }
                c[i, j] = Float(s)
            }
        }
        return c
    }

    func testMatmulAgainstNaive() {
        var rng = SeededRandom(42)
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 50), (50, 768, 31)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = Tensor(shape: ta ? [k, m] : [m, k], data: (0..<(m * k)).map { _ in rng.centred() })
                    let b = Tensor(shape: tb ? [n, k] : [k, n], data: (0..<(k * n)).map { _ in rng.centred() })
                    let fast = matmul(a, b, transposeA: ta, transposeB: tb)
                    let slow = naive(a, b, ta, tb)
                    XCTAssertEqual(fast.shape, [m, n])
                    let err = zip(fast.data, slow.data).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(err, 1e-4 * Float(k).squareRoot(), "m\(m) k\(k) n\(n) ta\(ta) tb\(tb)")
                }
            }
        }
    }

    /// Outputs are handed to sgemm uninitialised when beta is 0 (the CLIP tower's layers): what
    /// the memory held, NaN included, must not leak into the product, on the split path too.
    func testBetaZeroIgnoresWhatTheOutputHeld() {
        var rng = SeededRandom(9)
        for (m, n, k) in [(3, 5, 4), (250, 768, 96)] {
            let a = rng.centred(m * k), b = rng.centred(k * n)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                sgemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, beta: 0, c: cp.baseAddress!, ldc: n)
            } } }
            let want = naive(Tensor(shape: [m, k], data: a), Tensor(shape: [k, n], data: b), false, false)
            XCTAssertEqual(c.filter { $0.isNaN }.count, 0, "\(m)×\(n)×\(k)")
            XCTAssertLessThan(zip(c, want.data).map { abs($0 - $1) }.max() ?? 0, 1e-4, "\(m)×\(n)×\(k)")
        }
    }

    func testAxpyAndAbsoluteSumAgainstLoops() {
        var rng = SeededRandom(5)
        for n in [0, 1, 9, 10_001] {
            let x = rng.centred(n)
            var y = rng.centred(n)
            let want = zip(x, y).map { -2.5 * $0 + $1 }
            axpy(-2.5, x, into: &y)
            XCTAssertLessThan(zip(y, want).map { abs($0 - $1) }.max() ?? 0, 1e-6, "axpy, n = \(n)")   // BLAS may fuse
            let sum = x.reduce(0.0) { $0 + Double(abs($1)) }
            XCTAssertEqual(Double(absoluteSum(x)), sum, accuracy: 1e-5 * max(1, sum), "sum, n = \(n)")
        }
    }

    func testEmptyInnerDimensionGivesZeros() {
        let c = matmul(Tensor(zeros: [2, 0]), Tensor(zeros: [0, 3]))
        XCTAssertEqual(c, Tensor(zeros: [2, 3]))
    }

    func testParallelForCoversEveryIndexOnce() {
        for threads in [1, 2, 3] {
            ComputeThreads.set(threads)
            XCTAssertEqual(ComputeThreads.count, threads)
            let n = 1003
            var hits = [Int](repeating: 0, count: n)
            hits.withUnsafeMutableBufferPointer { h in
                let box = UncheckedSendable(h)
                parallelFor(n) { range in for i in range { box.value[i] += 1 } }
            }
            XCTAssertEqual(hits, [Int](repeating: 1, count: n))
        }
        ComputeThreads.set(0)
        XCTAssertEqual(ComputeThreads.count, 1, "budget is clamped to at least one thread")
        ComputeThreads.set(ComputeThreads.defaultCount())
    }

    func testMatmulInsideParallelForIsCorrect() {
        // BLAS is forced single-threaded inside our loops; results must not change.
        var rng = SeededRandom(7)
        let a = Tensor(shape: [40, 60], data: (0..<2400).map { _ in rng.centred() })
        let b = Tensor(shape: [60, 20], data: (0..<1200).map { _ in rng.centred() })
        let expected = matmul(a, b)
        var results = [Tensor](repeating: Tensor(zeros: [0]), count: 4)
        results.withUnsafeMutableBufferPointer { r in
            let box = UncheckedSendable(r)
            parallelFor(4) { range in for i in range { box.value[i] = matmul(a, b) } }
        }
        for r in results { XCTAssertEqual(r, expected) }
    }

    /// Our product for 1×1 convolutions against a naive loop: narrow products (16-column
    /// blocks from B), wide ones with rows of B far apart (packed 64-column panels, with and
    /// without leftover columns), row counts that leave a partial 4-row block, padded leading
    /// dimensions, and every epilogue step together.
    func testThinProductAgainstNaive() {
        var rng = SeededRandom(21)
        for (m, k, n, ldb, ldc) in [(7, 3, 40, 40, 40), (4, 20, 50, 53, 51), (13, 24, 300, 300, 300),
                                    (9, 16, 256, 260, 256), (5, 40, 70, 512, 75), (1, 8, 20, 20, 20)] {
            let a = rng.centred(m * k), b = rng.centred(k * ldb), bias = rng.centred(m)
            let mask = (0..<(m * ldc)).map { _ in rng.centred() * 16 - 1 }   // some inside (0, 6), some not
            let passes = ReLU6Mask(output: FeatureMap(channels: 1, batch: 1, height: 1, width: mask.count, data: mask))
            let addend = rng.centred(m * ldc)
            for withEpilogue in [false, true] {
                var c = [Float](repeating: .nan, count: m * ldc)
                a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    bias.withUnsafeBufferPointer { biasp in passes.bits.withUnsafeBufferPointer { mp in addend.withUnsafeBufferPointer { dp in
                        let e = withEpilogue
                            ? ProductEpilogue(bias: biasp.baseAddress, relu6: true, passInsideReLU6: mp.baseAddress, addend: dp.baseAddress)
                            : ProductEpilogue()
                        thinProduct(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, ldb: ldb,
                                    c: cp.baseAddress!, ldc: ldc, epilogue: e)
                    } } }
                } } }
                for i in 0..<m {
                    for j in 0..<n {
                        var v = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * ldb + j]) }
                        if withEpilogue {
                            v = min(6, max(0, v + Double(bias[i])))
                            let y = mask[i * ldc + j]
                            if !(y > 0 && y < 6) { v = 0 }
                            v += Double(addend[i * ldc + j])
                        }
                        XCTAssertEqual(Double(c[i * ldc + j]), v, accuracy: 1e-5, "m \(m) k \(k) n \(n) at \(i),\(j)")
                    }
                }
            }
        }
    }
}
