import CBLAS

/// A dense float32 array with a shape, row-major (last index fastest).
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    public subscript(indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set { data[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "index rank \(indices.count) ≠ tensor rank \(shape.count)")
        var flat = 0
        for (i, n) in zip(indices, shape) {
            precondition(i >= 0 && i < n, "index \(indices) out of bounds for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }
}

/// C = alpha · op(A) · op(B) + beta · C on raw row-major buffers, through OpenBLAS.
/// op(A) is M×K, op(B) is K×N, C is M×N. Large products are cut into `productParts` column
/// blocks (or row blocks when N is small), which the compute threads share.
///
/// Where a product is cut changes its bits: OpenBLAS's Haswell kernels compute the last
/// columns of each call in another order than the rest (measured: a 300×49×576 product cut
/// at column 32 differs from the whole in 2,184 values). So the cut depends on the shape
/// alone, never on the thread count, and one thread or two draw the same sketch.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    _ = ComputeThreads.blasConfigured
    guard ComputeThreads.splitProducts else {
        sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    let work = Double(m) * Double(n) * Double(k)
    guard work > 4e6 else {
        sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    let (ap, bp, cp) = (UncheckedSendable(a), UncheckedSendable(b), UncheckedSendable(c))
    if n >= m {
        // Column blocks of B and C, multiples of 16 for the kernels' sake.
        let parts = productParts
        let width = ((n + parts - 1) / parts + 15) / 16 * 16
        parallelFor(parts) { range in
            for p in range {
                let j0 = p * width, nn = min(width, n - j0)
                if nn <= 0 { continue }
                let bOff = transB ? j0 * ldb : j0
                sgemmSerial(transA: transA, transB: transB, m: m, n: nn, k: k, alpha: alpha, a: ap.value, lda: lda,
                            b: bp.value + bOff, ldb: ldb, beta: beta, c: cp.value + j0, ldc: ldc)
            }
        }
    } else {
        let parts = productParts
        let height = (m + parts - 1) / parts
        parallelFor(parts) { range in
            for p in range {
                let i0 = p * height, mm = min(height, m - i0)
                if mm <= 0 { continue }
                let aOff = transA ? i0 : i0 * lda
                sgemmSerial(transA: transA, transB: transB, m: mm, n: n, k: k, alpha: alpha, a: ap.value + aOff, lda: lda,
                            b: bp.value, ldb: ldb, beta: beta, c: cp.value + i0 * ldc, ldc: ldc)
            }
        }
    }
}

/// How many blocks a large product is cut into: the machines this engine is made for have two
/// cores. A constant, so that the thread count does not change the arithmetic (see `sgemm`).
public let productParts = 2

/// y += alpha · x, elementwise (BLAS saxpy: eight lanes, where the plain loop over two
/// arrays stays scalar).
public func axpy(_ alpha: Float, _ x: [Float], into y: inout [Float]) {
    precondition(x.count == y.count, "axpy of \(x.count) values into \(y.count)")
    _ = ComputeThreads.blasConfigured
    x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
        guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
        cblas_saxpy(Int32(xb.count), alpha, xp, 1, yp, 1)
    } }
}

/// Σ |x| in an order fixed by the index alone, so the same values give the same bits wherever
/// they sit in memory and on every CPU. Not BLAS sasum: OpenBLAS 0.3.21's AVX-512 and Haswell
/// kernels first add single values up to an alignment boundary, so their rounding followed
/// the array's address, and a sketch drifted between two runs (docs/determinism.md).
///
/// Four eight-lane accumulators take values 32 at a time from index 0 (a leftover chunk of
/// eight goes to the accumulator its position names, zero-filled past the end); then the
/// accumulators are added 0+1+2+3 and the lanes 0…7, in that order.
public func absoluteSum(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let p = x.baseAddress else { return 0 }
    let n = x.count
    let magnitude = SIMD8<UInt32>(repeating: 0x7FFF_FFFF)
    @inline(__always) func abs8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & magnitude, to: SIMD8<Float>.self)
    }
    var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
    var i = 0
    while i + 32 <= n {
        acc.0 += abs8(loadPartial(p + i, 8))
        acc.1 += abs8(loadPartial(p + i + 8, 8))
        acc.2 += abs8(loadPartial(p + i + 16, 8))
        acc.3 += abs8(loadPartial(p + i + 24, 8))
        i += 32
    }
    var chunk = 0
    while i < n {
        let v = abs8(loadPartial(p + i, min(8, n - i)))
        switch chunk {
        case 0: acc.0 += v
        case 1: acc.1 += v
        default: acc.2 += v
        }
        chunk += 1
        i += 8
    }
    let lanes = ((acc.0 + acc.1) + acc.2) + acc.3
    var sum: Float = 0
    for lane in 0..<8 { sum += lanes[lane] }
    return sum
}

/// Σ |x| of an array (see the buffer version).
public func absoluteSum(_ x: [Float]) -> Float {
    x.withUnsafeBufferPointer { absoluteSum($0) }
}

@inline(__always)
func sgemmSerial(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Matrix product of two rank-2 tensors, optionally transposing either.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2, "matmul takes rank-2 tensors, got \(a.shape) and \(b.shape)")
    let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    precondition(ka == kb, "matmul inner dimensions differ: \(a.shape) × \(b.shape)")
    var out = Tensor(zeros: [m, n])
    a.data.withUnsafeBufferPointer { pa in
        b.data.withUnsafeBufferPointer { pb in
            out.data.withUnsafeMutableBufferPointer { pc in
                guard let ap = pa.baseAddress, let bp = pb.baseAddress, let cp = pc.baseAddress else { return }
                sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: ka,
                      a: ap, lda: a.shape[1], b: bp, ldb: b.shape[1], c: cp, ldc: n)
            }
        }
    }
    return out
}
