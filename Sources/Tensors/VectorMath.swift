/// Elementwise functions eight lanes at a time, for the transformer's activations and
/// softmax, where a libm call per value was a serial tenth of a CLIP step.

/// e^x for eight floats: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by a degree-7 minimax
/// polynomial (Cephes' expf coefficients), 2^n put straight into the exponent bits.
/// Relative error of a few ulp (tested against Double exp); inputs are clamped to
/// [−87.3, 88.3], so e^x stays a normal float (≈ 1.2e−38 … 2.0e38).
@inlinable @inline(__always)
public func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Spelled for the code generator: `replacing` compiles to max/blend where the mutating
    // `replace` went lane by lane, and `a * b + c` stays two instructions unless written as
    // `addingProduct` (Swift does not contract).
    let low = SIMD8<Float>(repeating: -87.3), high = SIMD8<Float>(repeating: 88.3)
    let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    // n = round(x / ln 2) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits
    // (Swift's generic float → integer vector conversion runs lane by lane through calls).
    let magic = SIMD8<Float>(repeating: 12582912)
    let shifted = magic.addingProduct(clamped, SIMD8(repeating: 1.44269504088896341))
    let n = shifted - magic
    // r = x − n·ln 2, with ln 2 split in two so the first product is exact.
    let r = clamped.addingProduct(n, SIMD8(repeating: -0.693359375)).addingProduct(n, SIMD8(repeating: 2.12194440e-4))
    var p = SIMD8<Float>(repeating: 1.3981999507e-3).addingProduct(SIMD8(repeating: 1.9875691500e-4), r)
    p = SIMD8<Float>(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = SIMD8<Float>(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = SIMD8<Float>(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = SIMD8<Float>(repeating: 5.0000001201e-1).addingProduct(p, r)
    let er = (r + 1).addingProduct(p, r * r)
    // 2ⁿ: (n + 127) in the exponent field; the bits of `shifted` are 0x4B400000 + n.
    let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- SIMD8(repeating: 0x4B40_0000 - 127)) &<< SIMD8(repeating: 23)
    return er * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// 1 / (1 + e^−x).
@inlinable @inline(__always)
public func vectorSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + vectorExp(-x))
}

/// How many chunks of eight cover [0, n): what `parallelFor` spreads for an elementwise loop.
@inlinable
public func vectorChunks(_ n: Int) -> Int { (n + 7) / 8 }

/// The values [start, end) of the chunks `chunks` of [0, n), for loops that walk them eight
/// at a time inside `parallelFor` (`mapVectors`, Adam). The math belongs in that loop: a body
/// closure handed through `parallelFor` stays a function called per chunk (a third of the
/// speed), hence `VectorKernel` types.
@inlinable
public func vectorSpan(_ chunks: Range<Int>, of n: Int) -> Range<Int> {
    (chunks.lowerBound * 8)..<min(n, chunks.upperBound * 8)
}

/// An elementwise function of two inputs, eight lanes at a time (unary ones ignore `b`).
/// Kernels are types rather than closures so that `mapVectors` is specialised for each and
/// the math inlined into its loop.
public protocol VectorKernel {
    static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
}

/// out[i] = K(a[i], b[i]) for i in 0..<n, on the workers; `out` may be `a` or `b`.
@inlinable
public func mapVectors<K: VectorKernel>(_ kernel: K.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                        into out: UnsafeMutablePointer<Float>, count n: Int) {
    let (x, y, z) = (UncheckedSendable(a), UncheckedSendable(b), UncheckedSendable(out))
    parallelFor(vectorChunks(n), minChunk: 2048) { chunks in
        let span = vectorSpan(chunks, of: n)
        for i in stride(from: span.lowerBound, to: span.upperBound, by: 8) {
            let k = min(8, span.upperBound - i)
            storePartial(K.apply(loadPartial(x.value + i, k), loadPartial(y.value + i, k)), z.value + i, k)
        }
    }
}

/// dst[i] = a[i] + b[i] for one row of `count` values, on the calling thread (rows are
/// what callers spread over the workers). `dst` may be `a`.
@inlinable @inline(__always)
public func addRow(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var c = 0
    while c < count {
        let k = min(8, count - c)
        storePartial(loadPartial(a + c, k) + loadPartial(b + c, k), dst + c, k)
        c += 8
    }
}

/// `v` with the lanes from `count` on set to 0: a short chunk's padding, after arithmetic
/// that made it non-zero (a select, not lane-by-lane writes, which LLVM scalarises).
@inlinable @inline(__always)
public func zeroingLanes(_ v: SIMD8<Float>, from count: Int) -> SIMD8<Float> {
    v.replacing(with: 0, where: SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= Int32(clamping: count))
}

/// Eight floats from `p`, zero-filled past `count`. The short case goes through memory: a
/// vector built lane by lane made LLVM split all the math after it into halves and single
/// lanes, in the full case too (a third of the speed of the exp).
@inlinable @inline(__always)
public func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD8<Float> {
    if count >= 8 { return load8(p) }
    var v = SIMD8<Float>()
    withUnsafeMutableBytes(of: &v) { $0.baseAddress?.copyMemory(from: p, byteCount: max(0, count) * 4) }
    return v
}

/// Stores the first `count` lanes of `v` at `p` (the short case through memory, as above).
@inlinable @inline(__always)
public func storePartial(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 { store8(v, p); return }
    withUnsafeBytes(of: v) { bytes in
        if let b = bytes.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: b, byteCount: max(0, count) * 4) }
    }
}
