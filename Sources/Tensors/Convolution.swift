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
                    let chunks = (total + step - 1) / step
                    parallelFor(chunks) { range in
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
                _ c0: Int, _ n: Int, _ cols: UnsafeMutablePointer<Float>) {
        let h = shape.height, w = shape.width, plane = h * w, batch = shape.batch
        for c in 0..<inChannels {
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
public struct DepthwiseConv: Sendable {
    public let channels: Int, kernel: Int, stride: Int
    public let weight: [Float]   // [channels × k × k]
    public let bias: [Float]?

    public init(weight: [Float], bias: [Float]?, channels: Int, kernel: Int, stride: Int) {
        precondition(weight.count == channels * kernel * kernel, "depthwise weight size mismatch")
        self.weight = weight; self.bias = bias; self.channels = channels; self.kernel = kernel; self.stride = stride
    }

    func geometry(_ h: Int, _ w: Int) -> (Padding, Int, Int) {
        let p = Padding.same(height: h, width: w, kernel: kernel, stride: stride)
        return (p, (h + stride - 1) / stride, (w + stride - 1) / stride)
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == channels, "depthwise conv expects \(channels) channels, got \(x.channels)")
        let (p, ho, wo) = geometry(x.height, x.width)
        var out = FeatureMap(zeros: channels, batch: x.batch, height: ho, width: wo)
        let h = x.height, w = x.width, k = kernel, s = stride, batch = x.batch
        x.data.withUnsafeBufferPointer { xi in
            out.data.withUnsafeMutableBufferPointer { o in
                let xp = UncheckedSendable(xi.baseAddress!), op = UncheckedSendable(o.baseAddress!)
                weight.withUnsafeBufferPointer { wt in
                    let wp = UncheckedSendable(wt.baseAddress!)
                    parallelFor(channels * batch, minChunk: 4) { planes in
                        for pl in planes {
                            let c = pl / batch
                            let src = xp.value + pl * h * w, dst = op.value + pl * ho * wo
                            let b = bias?[c] ?? 0
                            for i in 0..<(ho * wo) { dst[i] = b }
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let wv = wp.value[(c * k + ky) * k + kx]
                                    // Output columns whose input column is inside the image.
                                    let xlo = max(0, (p.left - kx + s - 1) / s)
                                    let xhi = min(wo, (w - 1 + p.left - kx) / s + 1)
                                    if xlo >= xhi { continue }
                                    for oy in 0..<ho {
                                        let iy = oy * s + ky - p.top
                                        if iy < 0 || iy >= h { continue }
                                        let srow = src + iy * w - p.left + kx, drow = dst + oy * wo
                                        if s == 1 {
                                            for ox in xlo..<xhi { drow[ox] += wv * srow[ox] }
                                        } else {
                                            for ox in xlo..<xhi { drow[ox] += wv * srow[ox * s] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    public func backward(_ dy: FeatureMap, inputHeight h: Int, inputWidth w: Int) -> FeatureMap {
        let (p, ho, wo) = geometry(h, w)
        precondition(dy.height == ho && dy.width == wo && dy.channels == channels, "depthwise backward shape mismatch")
        var dx = FeatureMap(zeros: channels, batch: dy.batch, height: h, width: w)
        let k = kernel, s = stride, batch = dy.batch
        dy.data.withUnsafeBufferPointer { gi in
            dx.data.withUnsafeMutableBufferPointer { d in
                let gp = UncheckedSendable(gi.baseAddress!), dp = UncheckedSendable(d.baseAddress!)
                weight.withUnsafeBufferPointer { wt in
                    let wp = UncheckedSendable(wt.baseAddress!)
                    parallelFor(channels * batch, minChunk: 4) { planes in
                        for pl in planes {
                            let c = pl / batch
                            let g = gp.value + pl * ho * wo, dst = dp.value + pl * h * w
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let wv = wp.value[(c * k + ky) * k + kx]
                                    let xlo = max(0, (p.left - kx + s - 1) / s)
                                    let xhi = min(wo, (w - 1 + p.left - kx) / s + 1)
                                    if xlo >= xhi { continue }
                                    for oy in 0..<ho {
                                        let iy = oy * s + ky - p.top
                                        if iy < 0 || iy >= h { continue }
                                        let drow = dst + iy * w - p.left + kx, grow = g + oy * wo
                                        if s == 1 {
                                            for ox in xlo..<xhi { drow[ox] += wv * grow[ox] }
                                        } else {
                                            for ox in xlo..<xhi { drow[ox * s] += wv * grow[ox] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
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
