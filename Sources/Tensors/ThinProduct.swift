/// What happens to each output of `thinProduct` before it is stored.
public struct ProductEpilogue {
    /// Added per output row.
    public var bias: UnsafePointer<Float>? = nil
    /// Clamp below at 0 (ReLU).
    public var relu = false
    /// Clamp to [0, 6] (ReLU6).
    public var relu6 = false
    /// Zero the output where the bits of this `ReLU6Mask` (laid out like C, same ldc) do not
    /// pass: the gradient through a ReLU6 passes only where its output was inside (0, 6).
    public var passInsideReLU6: UnsafePointer<UInt8>? = nil
    /// `ReLU6Mask.laneTable` when there is a mask (read here, once, not in the kernel's loop).
    let maskLanes: UnsafePointer<SIMD8<UInt32>>?
    /// Added last, laid out like C (a residual connection). Must not alias C.
    public var addend: UnsafePointer<Float>? = nil
    public init(bias: UnsafePointer<Float>? = nil, relu: Bool = false, relu6: Bool = false,
                passInsideReLU6: UnsafePointer<UInt8>? = nil, addend: UnsafePointer<Float>? = nil) {
        self.bias = bias; self.relu = relu; self.relu6 = relu6; self.passInsideReLU6 = passInsideReLU6; self.addend = addend
        maskLanes = passInsideReLU6 == nil ? nil : ReLU6Mask.laneTable
    }
}

/// C[m×n] = A[m×k]·B[k×n], then the epilogue, for the products of 1×1 convolutions: a small
/// weight matrix A (row-major, lda = k) times a long, wide B. Blocks of 4 rows × 16 columns
/// are kept in eight registers while k runs, so B is read from L1 once per 4 rows and the
/// epilogue is applied on the way out, without another pass over C (measured against
/// OpenBLAS on these shapes: see `clipascene bench encoder`).
public func thinProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: ProductEpilogue = ProductEpilogue()) {
    guard m > 0, n > 0 else { return }
    let rowBlock = 4, colBlock = 16
    guard m >= rowBlock, n >= colBlock else {
        ThinProductKernel.scalar(rows: 0..<m, cols: 0..<n, k: k, a, b, ldb, c, ldc, epilogue)
        return
    }
    let (ap, bp, cp) = (UncheckedSendable(a), UncheckedSendable(b), UncheckedSendable(c))
    let ep = UncheckedSendable(epilogue)
    let tile = ThinProductKernel.tileColumns
    guard n >= tile, k >= 8, ldb >= ThinProductKernel.packMinLdb else {
        // Narrow products, or rows of B close together: 16-column blocks straight from B.
        let blocks = (n + colBlock - 1) / colBlock
        parallelFor(blocks, minChunk: 8) { range in
            for block in range {
                // The last block overlaps the one before: same outputs, written twice.
                let j = min(block * colBlock, n - colBlock)
                ThinProductKernel.rowBlocks(m: m, j: j, k: k, ap.value, bp.value + j, ldb, cp.value, ldc, ep.value)
            }
        }
        return
    }
    // Wide products with rows of B far apart: B in tiles of 64 columns, each copied once into
    // a contiguous panel used by every 4-row block of A. Read straight from B, the k rows of a
    // block sit a page or more apart and a block touched k pages: TLB misses measured as the
    // top stall (96×16 by 16×37632: 20 → 45 GF/s). C is written 64 values per row per tile.
    // Columns past the last whole tile run as 16-column blocks from B (one more unit).
    let tiles = n / tile
    parallelFor(tiles + (n % tile == 0 ? 0 : 1), minChunk: 2) { range in
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: k * tile)
        defer { panel.deallocate() }
        for t in range {
            guard t < tiles else {
                var j = tiles * tile
                while j < n {
                    let jj = min(j, n - colBlock)
                    ThinProductKernel.rowBlocks(m: m, j: jj, k: k, ap.value, bp.value + jj, ldb, cp.value, ldc, ep.value)
                    j = jj + colBlock
                }
                continue
            }
            let j0 = t * tile
            // 64 floats a row, copied inline (a memmove call per 256 bytes cost more than the copy).
            var src = bp.value + j0, dst = panel
            for _ in 0..<k {
                for q in stride(from: 0, to: tile, by: 8) { store8(load8(src + q), dst + q) }
                src += ldb; dst += tile
            }
            var i = 0
            while i < m {
                let r = min(i, m - rowBlock)
                for jb in stride(from: 0, to: tile, by: colBlock) {
                    ThinProductKernel.block4x16(i: r, j: j0 + jb, k: k, ap.value, panel + jb, tile, cp.value, ldc, ep.value)
                }
                i = r + rowBlock
            }
        }
    }
}

extension ProductEpilogue: @unchecked Sendable {
    /// The epilogue of one output value `v` in row `row`, at `offset` in C's layout (the
    /// scalar paths; the kernels apply the same steps eight lanes at a time).
    @inline(__always)
    func apply(_ v: Float, row: Int, at offset: Int) -> Float {
        var r = v
        if let bias { r += bias[row] }
        if relu { r = max(0, r) }
        if relu6 { r = min(6, max(0, r)) }
        if let mask = passInsideReLU6, !ReLU6Mask.passes(mask, offset) { r = 0 }
        if let addend { r += addend[offset] }
        return r
    }
}

enum ThinProductKernel {
    /// Columns of B copied into one contiguous panel (64 × k floats: ≤ 32 KB for k ≤ 128).
    static let tileColumns = 64
    /// B's row distance from which panels are packed (measured: packing pays from ~1 KB rows).
    static let packMinLdb = 256

    /// Every 4-row block of C's columns j ..< j + 16 (the last block may overlap the one before).
    @inline(__always)
    static func rowBlocks(m: Int, j: Int, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ldb: Int,
                          _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ e: ProductEpilogue) {
        var i = 0
        while i < m {
            let r = min(i, m - 4)
            block4x16(i: r, j: j, k: k, a, b, ldb, c, ldc, e)
            i = r + 4
        }
    }

    @inline(__always)
    static func finish(_ v: SIMD8<Float>, row: Int, at offset: Int, _ e: ProductEpilogue) -> SIMD8<Float> {
        var r = v
        if let bias = e.bias { r += bias[row] }
        if e.relu { r.replace(with: 0, where: r .< 0) }
        if e.relu6 { r = Activation.relu6(r) }
        if let mask = e.passInsideReLU6, let table = e.maskLanes { r = ReLU6Mask.pass(r, ReLU6Mask.lanes(mask, offset, table)) }
        if let add = e.addend { r += load8(add + offset) }
        return r
    }

    /// C[i ..< i+4][j ..< j+16] from A's rows i ..< i+4 and `b`, the block's first column of B
    /// (or of a packed panel) with row distance ldb.
    @inline(__always)
    static func block4x16(i: Int, j: Int, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ldb: Int,
                          _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ e: ProductEpilogue) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        // One pointer per row of A: indexing a0[r·k + p] would re-check r·k + p for overflow
        // inside the loop (measured: a third more instructions than FMAs).
        let a0 = a + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
        var row = b
        for p in 0..<k {
            let b0 = load8(row), b1 = load8(row + 8)
            row += ldb
            var s = SIMD8<Float>(repeating: a0[p])
            c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
            s = SIMD8<Float>(repeating: a1[p])
            c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
            s = SIMD8<Float>(repeating: a2[p])
            c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
            s = SIMD8<Float>(repeating: a3[p])
            c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        }
        let o0 = i * ldc + j, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc
        store8(finish(c00, row: i, at: o0, e), c + o0); store8(finish(c01, row: i, at: o0 + 8, e), c + o0 + 8)
        store8(finish(c10, row: i + 1, at: o1, e), c + o1); store8(finish(c11, row: i + 1, at: o1 + 8, e), c + o1 + 8)
        store8(finish(c20, row: i + 2, at: o2, e), c + o2); store8(finish(c21, row: i + 2, at: o2 + 8, e), c + o2 + 8)
        store8(finish(c30, row: i + 3, at: o3, e), c + o3); store8(finish(c31, row: i + 3, at: o3 + 8, e), c + o3 + 8)
    }

    static func scalar(rows: Range<Int>, cols: Range<Int>, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ e: ProductEpilogue) {
        for i in rows {
            for j in cols {
                var acc: Float = 0
                for p in 0..<k { acc += a[i * k + p] * b[p * ldb + j] }
                c[i * ldc + j] = e.apply(acc, row: i, at: i * ldc + j)
            }
        }
    }
}

/// Eight floats from any address. Built lane by lane, which LLVM folds into one unaligned
/// vector load; the standard library's generic `loadUnaligned` was once left as a call inside
/// large kernels (measured: a tenth of an encoder step). Where lanes must be shuffled, use
/// `loadUnaligned` of SIMD16 and its even/odd halves instead (see `DepthwiseKernel`): a
/// vector built lane by lane is kept scalar when its lanes are rearranged.
@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    SIMD8<Float>(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
}

/// Stores eight floats at any address (one unaligned vector store after LLVM's folding).
@inlinable @inline(__always)
public func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]; p[4] = v[4]; p[5] = v[5]; p[6] = v[6]; p[7] = v[7]
}
