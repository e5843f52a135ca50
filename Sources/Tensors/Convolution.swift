/// Convolutions on channel-major feature maps, each with its input-gradient backward.
/// Weights are frozen everywhere in this project, so no weight gradients are computed.

/// Output size of a convolution along one axis.
@inline(__always)
public func convOutputSize(_ n: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) -> Int {
    (n + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride + 1
}

/// A dense 2-D convolution (im2col + GEMM, in column chunks so memory stays bounded).
public struct Conv2D: Sendable {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, dilation: Int
    public let padding: Padding?   // nil = TensorFlow SAME, computed from the input size
    /// [outChannels × inChannels·k·k], row-major (PyTorch's OIHW flattened).
    public let weight: [Float]
    public let bias: [Float]?
    /// The weight transposed, [inChannels·k·k × outChannels], for the backward product.
    let transposed: [Float]
    /// The weight as [out][ky][kx][in] for stride-1 forward passes (see ShiftedConv.swift).
    let shiftedWeight: [Float]

    public init(weight: [Float], bias: [Float]?, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, dilation: Int = 1, padding: Padding?) {
        precondition(weight.count == outChannels * inChannels * kernel * kernel, "conv weight size mismatch")
        precondition(bias == nil || bias?.count == outChannels, "conv bias size mismatch")
        self.weight = weight; self.bias = bias
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.dilation = dilation; self.padding = padding
        let rows = inChannels * kernel * kernel
        var t = [Float](repeating: 0, count: weight.count)
        for o in 0..<outChannels { for r in 0..<rows { t[r * outChannels + o] = weight[o * rows + r] } }
        transposed = t
        shiftedWeight = stride == 1 && kernel > 1
            ? Self.tapMajor(weight, outChannels: outChannels, inChannels: inChannels, kernel: kernel) : []
    }

    /// cols → C columns [c0, c0 + n) of the output: our kernel for short products (with the
    /// bias and activation fused), OpenBLAS for long ones.
    @inline(__always)
    func multiply(_ a: UnsafePointer<Float>, m: Int, k: Int, _ cols: UnsafePointer<Float>, n: Int,
                  _ c: UnsafeMutablePointer<Float>, ldc: Int, _ epilogue: ProductEpilogue, ldb: Int? = nil) {
        if k <= PointwiseConv.thinDepth && !convBLAS {
            thinProduct(m: m, n: n, k: k, a: a, b: cols, ldb: ldb ?? n, c: c, ldc: ldc, epilogue: epilogue)
        } else {
            sgemm(m: m, n: n, k: k, a: a, lda: k, b: cols, ldb: ldb ?? n, c: c, ldc: ldc)
            applyEpilogue(epilogue, rows: m, columns: n, stride: ldc, c)
        }
    }

    public func padding(for x: FeatureMap) -> Padding {
        padding ?? .same(height: x.height, width: x.width, kernel: kernel, stride: stride, dilation: dilation)
    }

    func geometry(_ x: FeatureMap) -> (Padding, Int, Int) {
        let p = padding(for: x)
        let ho = convOutputSize(x.height, kernel: kernel, stride: stride, dilation: dilation, padBefore: p.top, padAfter: p.bottom)
        let wo = convOutputSize(x.width, kernel: kernel, stride: stride, dilation: dilation, padBefore: p.left, padAfter: p.right)
        return (p, ho, wo)
    }

    /// Output columns per im2col chunk: keeps the column buffer near 8 MB.
    var chunk: Int { max(256, (2 << 20) / max(1, inChannels * kernel * kernel)) }

    /// The convolution plus bias, then ReLU (`relu`) or ReLU6 (`relu6`) when set.
    public func forward(_ x: FeatureMap, relu: Bool = false, relu6: Bool = false) -> FeatureMap {
        precondition(x.channels == inChannels, "conv expects \(inChannels) channels, got \(x.channels)")
        if winogradApplies(outputWidth: geometry(x).2) { return forwardWinograd(x, relu: relu, relu6: relu6) }
        if stride == 1 && kernel > 1 && !convBLAS { return forwardShifted(x, relu: relu, relu6: relu6) }
        let (p, ho, wo) = geometry(x)
        let total = x.batch * ho * wo
        let rows = inChannels * kernel * kernel
        var out = FeatureMap(uninitialized: outChannels, batch: x.batch, height: ho, width: wo)
        guard total > 0 else { return out }
        let step = chunk
        out.data.withUnsafeMutableBufferPointer { o in
            let op = UncheckedSendable(o.baseAddress!)
            x.data.withUnsafeBufferPointer { xin in
                let xp = UncheckedSendable(xin.baseAddress!)
                weight.withUnsafeBufferPointer { w in
                    withOptionalPointer(bias) { biasp in
                        let wp = UncheckedSendable(w.baseAddress!)
                        let epilogue = UncheckedSendable(ProductEpilogue(bias: biasp, relu: relu, relu6: relu6))
                        if rows < 128 {
                            // Short products (a stem conv over 3 channels): chunks in parallel, each
                            // gathered and multiplied on its own thread.
                            parallelFor((total + step - 1) / step) { range in
                                // Sized to the work (one image is far below a chunk): zeroing a
                                // whole chunk's buffer per call was a tenth of an encoder step.
                                var cols = [Float](repeating: 0, count: rows * min(step, total))
                                for ci in range {
                                    let c0 = ci * step, n = min(step, total - c0)
                                    cols.withUnsafeMutableBufferPointer { cb in
                                        im2col(xp.value, x, p, ho, wo, c0, n, cb.baseAddress!)
                                        multiply(wp.value, m: outChannels, k: rows, cb.baseAddress!, n: n, op.value + c0,
                                                 ldc: total, epilogue.value)
                                    }
                                }
                            }
                            return
                        }
                        // Long products: chunks in turn, the gather split over channels across the
                        // threads, then one product that splits itself.
                        var cols = [Float](repeating: 0, count: rows * min(step, total))
                        var c0 = 0
                        while c0 < total {
                            let n = min(step, total - c0)
                            cols.withUnsafeMutableBufferPointer { cb in
                                let cp = UncheckedSendable(cb.baseAddress!)
                                parallelFor(inChannels) { channels in
                                    im2col(xp.value, x, p, ho, wo, c0, n, cp.value, channels: channels)
                                }
                                multiply(wp.value, m: outChannels, k: rows, cb.baseAddress!, n: n, op.value + c0,
                                         ldc: total, epilogue.value)
                            }
                            c0 += n
                        }
                    }
                }
            }
        }
        return out
    }

    /// ∂L/∂x given ∂L/∂y, for the input shape `x` had.
    public func backward(_ dy: FeatureMap, inputShape x: FeatureMap) -> FeatureMap {
        let (p, ho, wo) = geometry(x)
        precondition(dy.channels == outChannels && dy.height == ho && dy.width == wo, "conv backward shape mismatch")
        let total = x.batch * ho * wo
        let rows = inChannels * kernel * kernel
        var dx = FeatureMap(zeros: inChannels, batch: x.batch, height: x.height, width: x.width)
        guard total > 0 else { return dx }
        let step = chunk
        var cols = [Float](repeating: 0, count: rows * min(step, total))
        // Sequential over chunks: col2im of different chunks can touch the same input pixels.
        dy.data.withUnsafeBufferPointer { g in
            transposed.withUnsafeBufferPointer { wt in
                dx.data.withUnsafeMutableBufferPointer { d in
                    cols.withUnsafeMutableBufferPointer { cb in
                        var c0 = 0
                        while c0 < total {
                            let n = min(step, total - c0)
                            multiply(wt.baseAddress!, m: rows, k: outChannels, g.baseAddress! + c0, n: n, cb.baseAddress!,
                                     ldc: n, ProductEpilogue(), ldb: total)
                            col2im(cb.baseAddress!, x, p, ho, wo, c0, n, d.baseAddress!)
                            c0 += n
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Fills cols[(c,ky,kx)][j] for output columns c0..<c0+n.
    func im2col(_ x: UnsafePointer<Float>, _ shape: FeatureMap, _ p: Padding, _ ho: Int, _ wo: Int,
                _ c0: Int, _ n: Int, _ cols: UnsafeMutablePointer<Float>, channels: Range<Int>? = nil) {
        let h = shape.height, w = shape.width, plane = h * w, batch = shape.batch
        for c in channels ?? 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = cols + ((c * kernel + ky) * kernel + kx) * n
                    let dyo = ky * dilation - p.top, dxo = kx * dilation - p.left
                    var j = 0
                    var col = c0
                    while j < n {
                        let img = col / (ho * wo), rem = col % (ho * wo)
                        let oy = rem / wo
                        var ox = rem % wo
                        let iy = oy * stride + dyo
                        let base = x + (c * batch + img) * plane
                        if iy < 0 || iy >= h {
                            while ox < wo && j < n { row[j] = 0; j += 1; ox += 1; col += 1 }
                            continue
                        }
                        let src = base + iy * w
                        if stride == 1 {
                            // A run of the output row reads a contiguous run of the input row:
                            // zeros where it falls outside, one copy for the rest.
                            let end = min(wo, ox + (n - j))
                            let lo = min(max(ox, -dxo), end), hi = max(lo, min(end, w - dxo))
                            let out = row + j - ox
                            for q in ox..<lo { out[q] = 0 }
                            if hi > lo { (out + lo).update(from: src + lo + dxo, count: hi - lo) }
                            for q in hi..<end { out[q] = 0 }
                            j += end - ox; col += end - ox; ox = end
                            continue
                        }
                        // Strided: zeros left of the input, every stride-th value, zeros right.
                        let end = min(wo, ox + (n - j))
                        let first = dxo >= 0 ? 0 : (-dxo + stride - 1) / stride       // first ox with ix ≥ 0
                        let last = w - 1 - dxo < 0 ? -1 : (w - 1 - dxo) / stride      // last ox with ix < w
                        let lo = min(max(ox, first), end), hi = max(lo, min(end, last + 1))
                        let out = row + j - ox
                        for q in ox..<lo { out[q] = 0 }
                        var from = src + lo * stride + dxo
                        for q in lo..<hi { out[q] = from.pointee; from += stride }
                        for q in hi..<end { out[q] = 0 }
                        j += end - ox; col += end - ox; ox = end
                    }
                }
            }
        }
    }

    /// Adds cols back into the input positions they were gathered from, a run of an output
    /// row at a time.
    func col2im(_ cols: UnsafePointer<Float>, _ shape: FeatureMap, _ p: Padding, _ ho: Int, _ wo: Int,
                _ c0: Int, _ n: Int, _ x: UnsafeMutablePointer<Float>) {
        let h = shape.height, w = shape.width, plane = h * w, batch = shape.batch
        for c in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = cols + ((c * kernel + ky) * kernel + kx) * n
                    let dyo = ky * dilation - p.top, dxo = kx * dilation - p.left
                    // Output columns whose input column lands inside: ox in [oxLo, oxHi).
                    let oxLo = max(0, (-dxo + stride - 1) / stride), oxHi = w - 1 - dxo < 0 ? 0 : min(wo, (w - 1 - dxo) / stride + 1)
                    var j = 0, col = c0
                    while j < n {
                        let img = col / (ho * wo), rem = col % (ho * wo)
                        let oy = rem / wo, ox0 = rem % wo
                        let run = min(wo - ox0, n - j)
                        let iy = oy * stride + dyo
                        if iy >= 0 && iy < h && oxHi > oxLo {
                            let dst = x + (c * batch + img) * plane + iy * w + dxo
                            let src = row + j - ox0
                            for ox in max(ox0, oxLo)..<max(max(ox0, oxLo), min(ox0 + run, oxHi)) {
                                dst[ox * stride] += src[ox]
                            }
                        }
                        j += run; col += run
                    }
                }
            }
        }
    }
}

/// A 1×1 convolution: one GEMM over the whole batch.
public struct PointwiseConv: Sendable {
    public let inChannels: Int, outChannels: Int
    public let weight: [Float]   // [out × in]
    public let bias: [Float]?
    /// The weight transposed, [in × out], for the backward product.
    let transposed: [Float]

    public init(weight: [Float], bias: [Float]?, inChannels: Int, outChannels: Int) {
        precondition(weight.count == inChannels * outChannels, "pointwise weight size mismatch")
        precondition(bias == nil || bias?.count == outChannels, "pointwise bias size mismatch")
        self.weight = weight; self.bias = bias; self.inChannels = inChannels; self.outChannels = outChannels
        var t = [Float](repeating: 0, count: weight.count)
        for o in 0..<outChannels { for i in 0..<inChannels { t[i * outChannels + o] = weight[o * inChannels + i] } }
        transposed = t
    }

    /// Products this thin (a few hundred weights deep) run faster in our own register-blocked
    /// kernel than through OpenBLAS's packing; deeper ones go to OpenBLAS.
    static let thinDepth = 256

    /// W·x + b, then clamped to [0, 6] when `relu6` is set, plus `residual` when given.
    public func forward(_ x: FeatureMap, relu6: Bool = false, residual: FeatureMap? = nil) -> FeatureMap {
        precondition(x.channels == inChannels, "pointwise conv expects \(inChannels) channels, got \(x.channels)")
        precondition(residual == nil || residual?.count == outChannels * x.columns, "residual shape mismatch")
        var out = FeatureMap(uninitialized: outChannels, batch: x.batch, height: x.height, width: x.width)
        product(weight, m: outChannels, k: inChannels, x.data, into: &out.data, columns: x.columns,
                bias: bias, relu6: relu6, mask: nil, addend: residual?.data)
        return out
    }

    /// Wᵀ·dy, zeroed where `relu6Mask` (of the ReLU6 this conv's input came from) holds 0,
    /// plus `residual` when given.
    public func backward(_ dy: FeatureMap, relu6Mask: ReLU6Mask? = nil, residual: FeatureMap? = nil) -> FeatureMap {
        precondition(dy.channels == outChannels, "pointwise backward expects \(outChannels) channels, got \(dy.channels)")
        var dx = FeatureMap(uninitialized: inChannels, batch: dy.batch, height: dy.height, width: dy.width)
        precondition(relu6Mask == nil || relu6Mask?.count == dx.count, "relu6 mask shape mismatch")
        precondition(residual == nil || residual?.count == dx.count, "residual shape mismatch")
        product(transposed, m: inChannels, k: outChannels, dy.data, into: &dx.data, columns: dy.columns,
                bias: nil, relu6: false, mask: relu6Mask?.bits, addend: residual?.data)
        return dx
    }

    private func product(_ a: [Float], m: Int, k: Int, _ b: [Float], into c: inout [Float], columns n: Int,
                         bias: [Float]?, relu6: Bool, mask: [UInt8]?, addend: [Float]?) {
        guard m * n > 0 else { return }
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            withOptionalPointer(bias) { biasp in withOptionalPointer(mask) { maskp in withOptionalPointer(addend) { addp in
                let epilogue = ProductEpilogue(bias: biasp, relu6: relu6, passInsideReLU6: maskp, addend: addp)
                if k <= Self.thinDepth || k == 0 {
                    thinProduct(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, ldb: n,
                                c: cp.baseAddress!, ldc: n, epilogue: epilogue)
                } else {
                    sgemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                    applyEpilogue(epilogue, rows: m, columns: n, cp.baseAddress!)
                }
            } } }
        } } }
    }
}

/// Calls `body` with the array's base address, or nil for a nil array.
@inline(__always)
func withOptionalPointer<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// The epilogue as a separate pass over C (after an OpenBLAS product).
func applyEpilogue(_ e: ProductEpilogue, rows: Int, columns n: Int, stride: Int? = nil, _ c: UnsafeMutablePointer<Float>) {
    let cp = UncheckedSendable(c), ep = UncheckedSendable(e), ld = stride ?? n
    parallelFor(rows) { range in
        for i in range {
            let row = cp.value + i * ld
            for j in 0..<n { row[j] = ep.value.apply(row[j], row: i, at: i * ld + j) }
        }
    }
}

/// Elementwise helpers with their backward.
public enum Activation {
    /// min(max(v, 0), 6) lane-wise (the generic SIMD min/max are not inlined).
    @inline(__always)
    public static func relu6(_ v: SIMD8<Float>) -> SIMD8<Float> {
        var r = v.replacing(with: 0, where: v .< 0)
        r.replace(with: 6, where: r .> 6)
        return r
    }

    /// In place: x = min(max(x, 0), 6).
    public static func relu6(_ x: inout FeatureMap) {
        x.data.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            var i = 0
            while i + 8 <= p.count {
                store8(relu6(load8(base + i)), base + i)
                i += 8
            }
            while i < p.count { p[i] = min(6, max(0, p[i])); i += 1 }
        }
    }

    /// g[i] = 0 for i in 0..<count where the mask at `bits` does not pass value `start + i`.
    @inline(__always)
    static func passInsideReLU6(_ g: UnsafeMutablePointer<Float>, _ bits: UnsafePointer<UInt8>, from start: Int, count: Int) {
        let table = ReLU6Mask.laneTable
        var i = 0
        while i + 8 <= count {
            store8(ReLU6Mask.pass(load8(g + i), ReLU6Mask.lanes(bits, start + i, table)), g + i)
            i += 8
        }
        while i < count { if !ReLU6Mask.passes(bits, start + i) { g[i] = 0 }; i += 1 }
    }

    /// Gradient through ReLU6: passes where its output was inside (0, 6).
    public static func relu6Backward(_ dy: inout FeatureMap, mask: ReLU6Mask) {
        precondition(dy.count == mask.count, "relu6 backward shape mismatch")
        dy.data.withUnsafeMutableBufferPointer { g in
            mask.bits.withUnsafeBufferPointer { m in
                guard let gb = g.baseAddress, let mb = m.baseAddress else { return }
                passInsideReLU6(gb, mb, from: 0, count: g.count)
            }
        }
    }

    public static func relu(_ x: inout FeatureMap) {
        x.data.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = max(0, p[i]) }
        }
    }

    public static func sigmoid(_ x: inout FeatureMap) {
        x.data.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = 1 / (1 + (-p[i]).exp) }
        }
    }
}

/// Where a ReLU6's output was strictly inside (0, 6), one bit a value: the only places its
/// gradient passes. A training step keeps one for each ReLU6 of the encoder until its
/// backward, 1/32 of the bytes of the outputs themselves (those were most of a step's memory,
/// and two parts step at once). Bit i is bit i % 8 of byte i / 8; one byte of padding lets
/// eight bits be read from any position.
public struct ReLU6Mask: Sendable, Equatable {
    public private(set) var bits: [UInt8]
    public let count: Int

    /// The mask of ReLU6 output `y` (NaN does not pass, as in the comparison on floats).
    public init(output y: FeatureMap) {
        count = y.count
        bits = [UInt8](repeating: 0, count: count / 8 + 2)
        bits.withUnsafeMutableBufferPointer { mb in y.data.withUnsafeBufferPointer { yb in
            guard let m = mb.baseAddress, let v = yb.baseAddress else { return }
            let n = yb.count, lanes = SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)
            var i = 0
            while i + 8 <= n {
                let x = load8(v + i)
                m[i >> 3] = UInt8(truncatingIfNeeded: SIMD8<Int32>(repeating: 0).replacing(with: lanes, where: (x .> 0) .& (x .< 6)).wrappedSum())
                i += 8
            }
            while i < n {
                if v[i] > 0 && v[i] < 6 { m[i >> 3] |= UInt8(1) << UInt8(i & 7) }
                i += 1
            }
        } }
    }

    /// Whether value `i` passes.
    public subscript(i: Int) -> Bool { bits[i >> 3] >> UInt8(i & 7) & 1 == 1 }

    /// Whether value `i` of the mask at `bits` passes.
    @inline(__always)
    static func passes(_ bits: UnsafePointer<UInt8>, _ i: Int) -> Bool { bits[i >> 3] >> UInt8(i & 7) & 1 == 1 }

    /// For each byte of bits, its eight lanes as all ones (passes) or all zeros: one load turns
    /// eight bits into a mask for eight floats. (Swift's SIMD comparisons and `replacing(with:
    /// where:)` compiled to a loop over the lanes here, a quarter of a step.)
    nonisolated(unsafe) static let laneTable: UnsafePointer<SIMD8<UInt32>> = {
        let table = UnsafeMutablePointer<SIMD8<UInt32>>.allocate(capacity: 256)
        for byte in 0..<256 {
            var lanes = SIMD8<UInt32>()
            for lane in 0..<8 where (byte >> lane) & 1 == 1 { lanes[lane] = .max }
            table[byte] = lanes
        }
        return UnsafePointer(table)
    }()

    /// Values i ..< i + 8 of the mask at `bits` (from any bit position) as lanes of `table`.
    @inline(__always)
    static func lanes(_ bits: UnsafePointer<UInt8>, _ i: Int, _ table: UnsafePointer<SIMD8<UInt32>>) -> SIMD8<UInt32> {
        let b = i >> 3
        let word = (UInt32(bits[b]) | UInt32(bits[b + 1]) << 8) >> UInt32(i & 7)
        return table[Int(word & 0xFF)]
    }

    /// `v` where `lanes` pass, +0 elsewhere (the bits of `v` and-ed with the lanes').
    @inline(__always)
    static func pass(_ v: SIMD8<Float>, _ lanes: SIMD8<UInt32>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & lanes, to: SIMD8<Float>.self)
    }
}

extension Float {
    @inline(__always) var exp: Float { Float(Foundation.exp(Double(self))) }
}

import Foundation

/// `CLIPASCENE_CONV_BLAS=1` sends every dense convolution through im2col + OpenBLAS, the
/// path our own kernels replaced: for timing one against the other in the same build.
let convBLAS = getenvString("CLIPASCENE_CONV_BLAS") == "1"
