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
/// op(A) is M×K, op(B) is K×N, C is M×N. Large products are split into column blocks
/// (or row blocks when N is small) across the compute threads.
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
    let threads = ComputeThreads.count
    guard threads > 1, work > 4e6 else {
        sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    let (ap, bp, cp) = (UncheckedSendable(a), UncheckedSendable(b), UncheckedSendable(c))
    if n >= m {
        // Column blocks of B and C, multiples of 16 for the kernels' sake.
        let parts = threads
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
        let parts = threads
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

/// Σ |x| (BLAS sasum; a Swift `reduce` over floats cannot be vectorised, as it may not
/// reorder the additions).
public func absoluteSum(_ x: [Float]) -> Float {
    _ = ComputeThreads.blasConfigured
    return x.withUnsafeBufferPointer { xb in xb.baseAddress.map { cblas_sasum(Int32(xb.count), $0, 1) } ?? 0 }
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
