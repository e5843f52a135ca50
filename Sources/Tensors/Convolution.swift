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

    public init(weight: [Float], bias: [Float]?, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, dilation: Int = 1, padding: Padding?) {
        precondition(weight.count == outChannels * inChannels * kernel * kernel, "conv weight size mismatch")
        precondition(bias == nil || bias?.count == outChannels, "conv bias size mismatch")
        self.weight = weight; self.bias = bias
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.dilation = dilation; self.padding = padding
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

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == inChannels, "conv expects \(inChannels) channels, got \(x.channels)")
        let (p, ho, wo) = geometry(x)
        let total = x.batch * ho * wo
        let rows = inChannels * kernel * kernel
        var out = FeatureMap(zeros: outChannels, batch: x.batch, height: ho, width: wo)
        let step = chunk
        out.data.withUnsafeMutableBufferPointer { o in
            let op = UncheckedSendable(o.baseAddress!)
            x.data.withUnsafeBufferPointer { xin in
                let xp = UncheckedSendable(xin.baseAddress!)
                weight.withUnsafeBufferPointer { w in
                    let wp = UncheckedSendable(w.baseAddress!)
                    if rows < 128 {
                        // Short products (a stem conv over 3 channels): chunks in parallel, each
                        // gathering and multiplying on its own thread; BLAS stays single-threaded
                        // at these sizes.
                        parallelFor((total + step - 1) / step) { range in
                            var cols = [Float](repeating: 0, count: rows * step)
                            for ci in range {
                                let c0 = ci * step, n = min(step, total - c0)
                                cols.withUnsafeMutableBufferPointer { cb in
                                    im2col(xp.value, x, p, ho, wo, c0, n, cb.baseAddress!)
                                    sgemm(m: outChannels, n: n, k: rows, a: wp.value, lda: rows, b: cb.baseAddress!, ldb: n,
                                          c: op.value + c0, ldc: total)
                                }
                            }
                        }
                        return
                    }
                    // Long products: chunks in turn, the gather split over channels across the
                    // threads, one BLAS call that threads itself (concurrent BLAS calls from
                    // several threads serialise on OpenBLAS's lock and thrash).
                    var cols = [Float](repeating: 0, count: rows * min(step, total))
                    var c0 = 0
                    while c0 < total {
                        let n = min(step, total - c0)
                        cols.withUnsafeMutableBufferPointer { cb in
                            let cp = UncheckedSendable(cb.baseAddress!)
                            parallelFor(inChannels) { channels in
                                im2col(xp.value, x, p, ho, wo, c0, n, cp.value, channels: channels)
                            }
                            sgemm(m: outChannels, n: n, k: rows, a: wp.value, lda: rows, b: cb.baseAddress!, ldb: n,
                                  c: op.value + c0, ldc: total)
                        }
                        c0 += n
                    }
                }
            }
            if let bias {
                for c in 0..<outChannels {
                    let b = bias[c]
                    for i in (c * total)..<((c + 1) * total) { o[i] += b }
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
        let step = chunk
        var cols = [Float](repeating: 0, count: rows * step)
        // Sequential over chunks: col2im of different chunks can touch the same input pixels.
        dy.data.withUnsafeBufferPointer { g in
            weight.withUnsafeBufferPointer { w in
                dx.data.withUnsafeMutableBufferPointer { d in
                    cols.withUnsafeMutableBufferPointer { cb in
                        var c0 = 0
                        while c0 < total {
                            let n = min(step, total - c0)
                            sgemm(transA: true, m: rows, n: n, k: outChannels, a: w.baseAddress!, lda: rows,
                                  b: g.baseAddress! + c0, ldb: total, c: cb.baseAddress!, ldc: n)
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
                        while ox < wo && j < n {
                            let ix = ox * stride + dxo
                            row[j] = (ix >= 0 && ix < w) ? src[ix] : 0
                            j += 1; ox += 1; col += 1
                        }
                    }
                }
            }
        }
    }

    /// Adds cols back into the input positions they were gathered from.
    func col2im(_ cols: UnsafePointer<Float>, _ shape: FeatureMap, _ p: Padding, _ ho: Int, _ wo: Int,
                _ c0: Int, _ n: Int, _ x: UnsafeMutablePointer<Float>) {
        let h = shape.height, w = shape.width, plane = h * w, batch = shape.batch
        for c in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = cols + ((c * kernel + ky) * kernel + kx) * n
                    let dyo = ky * dilation - p.top, dxo = kx * dilation - p.left
                    for j in 0..<n {
                        let col = c0 + j
                        let img = col / (ho * wo), rem = col % (ho * wo)
                        let iy = (rem / wo) * stride + dyo, ix = (rem % wo) * stride + dxo
                        if iy >= 0 && iy < h && ix >= 0 && ix < w {
                            x[(c * batch + img) * plane + iy * w + ix] += row[j]
                        }
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

    public init(weight: [Float], bias: [Float]?, inChannels: Int, outChannels: Int) {
        precondition(weight.count == inChannels * outChannels, "pointwise weight size mismatch")
        self.weight = weight; self.bias = bias; self.inChannels = inChannels; self.outChannels = outChannels
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == inChannels, "pointwise conv expects \(inChannels) channels, got \(x.channels)")
        var out = FeatureMap(zeros: outChannels, batch: x.batch, height: x.height, width: x.width)
        let n = x.columns
        weight.withUnsafeBufferPointer { w in
            x.data.withUnsafeBufferPointer { xi in
                out.data.withUnsafeMutableBufferPointer { o in
                    sgemm(m: outChannels, n: n, k: inChannels, a: w.baseAddress!, lda: inChannels,
                          b: xi.baseAddress!, ldb: n, c: o.baseAddress!, ldc: n)
                    if let bias {
                        for c in 0..<outChannels {
                            let b = bias[c]
                            for i in (c * n)..<((c + 1) * n) { o[i] += b }
                        }
                    }
                }
            }
        }
        return out
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        var dx = FeatureMap(zeros: inChannels, batch: dy.batch, height: dy.height, width: dy.width)
        let n = dy.columns
        weight.withUnsafeBufferPointer { w in
            dy.data.withUnsafeBufferPointer { g in
                dx.data.withUnsafeMutableBufferPointer { d in
                    sgemm(transA: true, m: inChannels, n: n, k: outChannels, a: w.baseAddress!, lda: inChannels,
                          b: g.baseAddress!, ldb: n, c: d.baseAddress!, ldc: n)
                }
            }
        }
        return dx
    }
}

/// A depthwise k×k convolution (one filter per channel) with TensorFlow SAME padding.
///
/// Both directions run the same kernel: a "valid" correlation over a padded copy of the
/// plane, eight outputs at a time. Forward pads the input; backward pads the output
/// gradient (zero-stuffed for stride 2) and correlates with the flipped filter.
public struct DepthwiseConv: Sendable {
    public let channels: Int, kernel: Int, stride: Int
    public let weight: [Float]   // [channels × k × k]
    public let bias: [Float]?
    let flipped: [Float]

    public init(weight: [Float], bias: [Float]?, channels: Int, kernel: Int, stride: Int) {
        precondition(weight.count == channels * kernel * kernel, "depthwise weight size mismatch")
        precondition(stride == 1 || stride == 2, "depthwise stride must be 1 or 2")
        self.weight = weight; self.bias = bias; self.channels = channels; self.kernel = kernel; self.stride = stride
        let kk = kernel * kernel
        var f = weight
        for c in 0..<channels { for i in 0..<kk { f[c * kk + i] = weight[c * kk + kk - 1 - i] } }
        flipped = f
    }

    func geometry(_ h: Int, _ w: Int) -> (Padding, Int, Int) {
        let p = Padding.same(height: h, width: w, kernel: kernel, stride: stride)
        return (p, (h + stride - 1) / stride, (w + stride - 1) / stride)
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == channels, "depthwise conv expects \(channels) channels, got \(x.channels)")
        let (p, ho, wo) = geometry(x.height, x.width)
        let h = x.height, w = x.width, k = kernel, s = stride
        // Padded plane: wide enough for the last output's taps plus SIMD overrun.
        let pw = max((wo - 1) * s + k, w + p.left) + 16, ph = max((ho - 1) * s + k, h + p.top)
        var out = FeatureMap(zeros: channels, batch: x.batch, height: ho, width: wo)
        run(planes: channels * x.batch, batch: x.batch, source: x.data, sourceH: h, sourceW: w,
            padH: ph, padW: pw, weights: weight, bias: bias, stride: s, outH: ho, outW: wo, out: &out.data) { src, dst in
            for y in 0..<h {
                let d = dst + (y + p.top) * pw + p.left, r = src + y * w
                for x in 0..<w { d[x] = r[x] }
            }
        }
        return out
    }

    public func backward(_ dy: FeatureMap, inputHeight h: Int, inputWidth w: Int) -> FeatureMap {
        let (p, ho, wo) = geometry(h, w)
        precondition(dy.height == ho && dy.width == wo && dy.channels == channels, "depthwise backward shape mismatch")
        let k = kernel, s = stride
        // dx[i] = Σ_a w'[a] · Z[i + a − (k−1) + pad], Z = gradient placed at stride s.
        let offY = k - 1 - p.top, offX = k - 1 - p.left
        let pw = w + k - 1 + 16, ph = h + k - 1
        var dx = FeatureMap(zeros: channels, batch: dy.batch, height: h, width: w)
        run(planes: channels * dy.batch, batch: dy.batch, source: dy.data, sourceH: ho, sourceW: wo,
            padH: ph, padW: pw, weights: flipped, bias: nil, stride: 1, outH: h, outW: w, out: &dx.data) { src, dst in
            for oy in 0..<ho {
                let py = oy * s + offY
                if py < 0 || py >= ph { continue }
                let d = dst + py * pw, r = src + oy * wo
                for ox in 0..<wo {
                    let px = ox * s + offX
                    if px >= 0 && px < pw { d[px] = r[ox] }
                }
            }
        }
        return dx
    }

    /// For each plane: zero a padded buffer, let `fill` place the source in it, then correlate.
    private func run(planes: Int, batch: Int, source: [Float], sourceH: Int, sourceW: Int, padH: Int, padW: Int,
                     weights: [Float], bias: [Float]?, stride s: Int, outH: Int, outW: Int, out: inout [Float],
                     fill: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let k = kernel
        withoutActuallyEscaping(fill) { fill in
            let fillBox = UncheckedSendable(fill)
            source.withUnsafeBufferPointer { sp in
                out.withUnsafeMutableBufferPointer { op in
                    weights.withUnsafeBufferPointer { wp in
                        let (sb, ob, wb) = (UncheckedSendable(sp.baseAddress!), UncheckedSendable(op.baseAddress!),
                                            UncheckedSendable(wp.baseAddress!))
                        parallelFor(planes, minChunk: 4) { range in
                            var padded = [Float](repeating: 0, count: padH * padW + 32)
                            padded.withUnsafeMutableBufferPointer { pb in
                                let pad = pb.baseAddress!
                                for pl in range {
                                    let c = pl / batch
                                    pad.update(repeating: 0, count: padH * padW + 32)
                                    fillBox.value(sb.value + pl * sourceH * sourceW, pad)
                                    correlate(pad, padW, wb.value + c * k * k, bias?[c] ?? 0, s,
                                              ob.value + pl * outH * outW, outH, outW)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// out[y][x] = b + Σ w[a][c] · P[y·s + a][x·s + c], eight columns at a time.
    @inline(__always)
    private func correlate(_ P: UnsafePointer<Float>, _ pw: Int, _ w: UnsafePointer<Float>, _ b: Float, _ s: Int,
                           _ out: UnsafeMutablePointer<Float>, _ ho: Int, _ wo: Int) {
        let k = kernel
        let raw = UnsafeRawPointer(P)
        for y in 0..<ho {
            let orow = out + y * wo
            var x = 0
            while x + 8 <= wo {
                var acc = SIMD8<Float>(repeating: b)
                for a in 0..<k {
                    let row = (y * s + a) * pw + x * s
                    for c in 0..<k {
                        let v: SIMD8<Float>
                        if s == 1 {
                            v = raw.loadUnaligned(fromByteOffset: (row + c) * 4, as: SIMD8<Float>.self)
                        } else {
                            v = raw.loadUnaligned(fromByteOffset: (row + c) * 4, as: SIMD16<Float>.self).evenHalf
                        }
                        acc += w[a * k + c] * v
                    }
                }
                UnsafeMutableRawPointer(orow + x).storeBytes(of: acc, as: SIMD8<Float>.self)
                x += 8
            }
            while x < wo {
                var acc = b
                for a in 0..<k {
                    let row = P + (y * s + a) * pw + x * s
                    for c in 0..<k { acc += w[a * k + c] * row[c] }
                }
                orow[x] = acc
                x += 1
            }
        }
    }
}

/// Elementwise helpers with their backward.
public enum Activation {
    /// In place: x = min(max(x, 0), 6).
    public static func relu6(_ x: inout FeatureMap) {
        x.data.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = min(6, max(0, p[i])) }
        }
    }

    /// Gradient through ReLU6 given its output y: passes where 0 < y < 6.
    public static func relu6Backward(_ dy: inout FeatureMap, output y: FeatureMap) {
        dy.data.withUnsafeMutableBufferPointer { g in
            y.data.withUnsafeBufferPointer { v in
                for i in g.indices where !(v[i] > 0 && v[i] < 6) { g[i] = 0 }
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

extension Float {
    @inline(__always) var exp: Float { Float(Foundation.exp(Double(self))) }
}

import Foundation
