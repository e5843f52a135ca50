/// A depthwise k×k convolution (one filter per channel) with TensorFlow SAME padding,
/// stride 1 or 2, and its input-gradient backward.
///
/// Both directions run one kernel: a "valid" correlation over a zero-padded copy of a
/// plane, 8 columns × 2 rows of output at a time. For stride 2 the padded copy keeps even
/// and odd columns apart, so every load is contiguous. Backward splits the input gradient
/// into its s×s parity classes; each class is a stride-1 correlation of the padded output
/// gradient with the taps that reach it (no multiplications by stuffed zeros).
public struct DepthwiseConv: Sendable {
    public let channels: Int, kernel: Int, stride: Int
    public let weight: [Float]   // [channels × k × k]
    public let bias: [Float]?

    /// One parity class of the input gradient: rows py, py+s, …, columns px, px+s, …
    struct GradientClass: Sendable {
        var py: Int, px: Int
        /// Taps reaching this class, flipped, [channels × th × tw].
        var taps: [Float]
        var th: Int, tw: Int
        /// Where in the padded gradient plane the class's (0, 0) output starts reading.
        var row: Int, col: Int
    }

    public init(weight: [Float], bias: [Float]?, channels: Int, kernel: Int, stride: Int) {
        precondition(weight.count == channels * kernel * kernel, "depthwise weight size mismatch")
        precondition(bias == nil || bias?.count == channels, "depthwise bias size mismatch")
        precondition(stride == 1 || stride == 2, "depthwise stride must be 1 or 2")
        self.weight = weight; self.bias = bias; self.channels = channels; self.kernel = kernel; self.stride = stride
    }

    func geometry(_ h: Int, _ w: Int) -> (Padding, Int, Int) {
        let p = Padding.same(height: h, width: w, kernel: kernel, stride: stride)
        return (p, (h + stride - 1) / stride, (w + stride - 1) / stride)
    }

    /// The correlation, clamped to [0, 6] on the way out when `relu6` is set.
    public func forward(_ x: FeatureMap, relu6: Bool = false) -> FeatureMap {
        precondition(x.channels == channels, "depthwise conv expects \(channels) channels, got \(x.channels)")
        let (p, ho, wo) = geometry(x.height, x.width)
        let h = x.height, w = x.width, k = kernel, s = stride
        // Each phase holds every s-th padded column; two spare rows and eight spare columns
        // let the 2-row, 8-wide blocks read past the edge without checks.
        let pitch = ((wo - 1) * s + k + s - 1) / s + 8
        let rows = (ho - 1) * s + k + s + 2
        let phaseSize = rows * pitch
        var out = FeatureMap(uninitialized: channels, batch: x.batch, height: ho, width: wo)
        let planes = channels * x.batch, batch = x.batch
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                weight.withUnsafeBufferPointer { wts in
                    let (sp, dp, wp) = (UncheckedSendable(src.baseAddress!), UncheckedSendable(dst.baseAddress!),
                                        UncheckedSendable(wts.baseAddress!))
                    parallelFor(planes, minChunk: 4) { range in
                        // The padding stays zero: every plane writes the same interior positions.
                        var padded = [Float](repeating: 0, count: s * phaseSize)
                        padded.withUnsafeMutableBufferPointer { pb in
                            let pad = pb.baseAddress!
                            for plane in range {
                                let c = plane / batch
                                let input = sp.value + plane * h * w
                                for y in 0..<h {
                                    let r = input + y * w, row = (y + p.top) * pitch
                                    if s == 1 {
                                        (pad + row + p.left).update(from: r, count: w)
                                    } else {
                                        // Input column xi lands at padded column xi + left, in phase
                                        // (xi + left) mod 2: even columns in one phase, odd in the other.
                                        let even = pad + (p.left & 1) * phaseSize + row + p.left >> 1
                                        let odd = pad + ((1 + p.left) & 1) * phaseSize + row + (1 + p.left) >> 1
                                        DepthwiseKernel.splitEvenOdd(r, count: w, even: even, odd: odd)
                                    }
                                }
                                DepthwiseKernel.correlate(pad, pitch: pitch, phaseSize: phaseSize, stride: s,
                                                          wp.value + c * k * k, th: k, tw: k, bias: bias?[c] ?? 0,
                                                          dp.value + plane * ho * wo, outPitch: wo, height: ho, width: wo,
                                                          relu6: relu6)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The parity classes of the input gradient for an input of h × w.
    func gradientClasses(_ p: Padding) -> [GradientClass] {
        let k = kernel, s = stride
        // dx[iy] gathers w[a]·dy[(iy + top − a)/s] over the a ≡ (iy + top) mod s. For iy = s·m + py
        // and a = a0 + s·t, t < ta: dy row m + d − t, d = (py + top − a0)/s. Flipping t turns it
        // into a correlation starting at gradient row m + d − (ta − 1).
        func axis(_ phase: Int, _ before: Int) -> (a0: Int, count: Int, start: Int) {
            let a0 = (phase + before) % s
            let count = (k - a0 + s - 1) / s
            let d = (phase + before - a0) / s
            return (a0, count, d - (count - 1))
        }
        var classes: [GradientClass] = []
        for py in 0..<s {
            for px in 0..<s {
                let (ay, th, sy) = axis(py, p.top), (ax, tw, sx) = axis(px, p.left)
                var taps = [Float](repeating: 0, count: channels * th * tw)
                for c in 0..<channels {
                    for t in 0..<th {
                        for u in 0..<tw {
                            let a = ay + s * (th - 1 - t), b = ax + s * (tw - 1 - u)
                            taps[(c * th + t) * tw + u] = weight[(c * k + a) * k + b]
                        }
                    }
                }
                classes.append(GradientClass(py: py, px: px, taps: taps, th: th, tw: tw, row: sy, col: sx))
            }
        }
        return classes
    }

    /// ∂L/∂x given ∂L/∂y; zeroed where `relu6Mask` (of the ReLU6 whose output this conv read,
    /// same shape as x) holds 0, each plane while it is still in cache.
    public func backward(_ dy: FeatureMap, inputHeight h: Int, inputWidth w: Int, relu6Mask: ReLU6Mask? = nil) -> FeatureMap {
        let (p, ho, wo) = geometry(h, w)
        precondition(dy.height == ho && dy.width == wo && dy.channels == channels, "depthwise backward shape mismatch")
        precondition(relu6Mask == nil || relu6Mask?.count == channels * dy.batch * h * w, "relu6 mask shape mismatch")
        let s = stride, k = kernel
        let classes = gradientClasses(p)
        // The gradient sits in the padded plane at (margin, margin); class starts are ≥ −(k − 1).
        let margin = k
        let classH = (h + s - 1) / s, classW = (w + s - 1) / s
        let pitch = wo + 3 * margin + classW + 8
        let rows = ho + 3 * margin + classH + 4
        var dx = FeatureMap(uninitialized: channels, batch: dy.batch, height: h, width: w)
        let planes = channels * dy.batch, batch = dy.batch
        withOptionalPointer(relu6Mask?.bits) { maskp in
        let mask = UncheckedSendable(maskp)
        dy.data.withUnsafeBufferPointer { src in
            dx.data.withUnsafeMutableBufferPointer { dst in
                let (sp, dp) = (UncheckedSendable(src.baseAddress!), UncheckedSendable(dst.baseAddress!))
                parallelFor(planes, minChunk: 4) { range in
                    var padded = [Float](repeating: 0, count: rows * pitch)
                    // Stride 2 (the only other stride, see init): each of the four classes into its
                    // own buffer, then the rows interleaved into the plane.
                    let classSize = classH * classW + 8
                    var classOut = [Float](repeating: 0, count: s == 1 ? 0 : 4 * classSize)
                    padded.withUnsafeMutableBufferPointer { pb in
                        classOut.withUnsafeMutableBufferPointer { cb in
                            let pad = pb.baseAddress!
                            for plane in range {
                                let c = plane / batch
                                let g = sp.value + plane * ho * wo
                                for oy in 0..<ho { (pad + (oy + margin) * pitch + margin).update(from: g + oy * wo, count: wo) }
                                let out = dp.value + plane * h * w
                                for cl in classes {
                                    let mh = (h - cl.py + s - 1) / s, mw = (w - cl.px + s - 1) / s
                                    guard mh > 0, mw > 0 else { continue }
                                    let origin = pad + (cl.row + margin) * pitch + cl.col + margin
                                    cl.taps.withUnsafeBufferPointer { tb in
                                        let taps = tb.baseAddress! + c * cl.th * cl.tw
                                        let to = s == 1 ? out : cb.baseAddress! + (cl.py * 2 + cl.px) * classSize
                                        DepthwiseKernel.correlate(origin, pitch: pitch, phaseSize: 0, stride: 1, taps,
                                                                  th: cl.th, tw: cl.tw, bias: 0, to, outPitch: s == 1 ? w : mw,
                                                                  height: mh, width: mw, relu6: false)
                                    }
                                }
                                if s == 2 {
                                    // Rows of the two column classes interleaved: SIMD16's even/odd halves.
                                    for py in 0..<2 {
                                        let even = cb.baseAddress! + (py * 2) * classSize, odd = even + classSize
                                        let evenWidth = (w + 1) / 2, oddWidth = w / 2
                                        for m in 0..<((h - py + 1) / 2) {
                                            DepthwiseKernel.interleave(even + m * evenWidth, odd + m * oddWidth,
                                                                       into: out + (2 * m + py) * w, count: w)
                                        }
                                    }
                                }
                                if let bits = mask.value { Activation.passInsideReLU6(out, bits, from: plane * h * w, count: h * w) }
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

/// The inner loop of the depthwise convolution, specialised for the tap shapes it meets.
enum DepthwiseKernel {
    /// out[2j] = even[j], out[2j + 1] = odd[j] for indices below count (the inverse of
    /// `splitEvenOdd`, with the same shuffles).
    @inline(__always)
    static func interleave(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           count: Int) {
        var i = 0
        while i + 16 <= count {
            var v = SIMD16<Float>()
            v.evenHalf = UnsafeRawPointer(even + i / 2).loadUnaligned(as: SIMD8<Float>.self)
            v.oddHalf = UnsafeRawPointer(odd + i / 2).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            out[i] = i & 1 == 0 ? even[i / 2] : odd[i / 2]
            i += 1
        }
    }

    /// even[j] = x[2j], odd[j] = x[2j + 1] for 2j (+ 1) < count. Sixteen values per turn
    /// through SIMD16's even/odd halves, which LLVM turns into two shuffles (a vector built
    /// lane by lane from `load8` is scalarised instead, and the scalar loop was 8 % of a step).
    @inline(__always)
    static func splitEvenOdd(_ x: UnsafePointer<Float>, count: Int, even: UnsafeMutablePointer<Float>,
                             odd: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(even + i / 2).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(odd + i / 2).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
            i += 16
        }
        while i < count {
            if i & 1 == 0 { even[i / 2] = x[i] } else { odd[i / 2] = x[i] }
            i += 1
        }
    }

    /// out[y][x] = bias + Σ w[a][b] · P[y·s + a][x·s + b] for a < th, b < tw, where column j of
    /// the padded plane lives in phase j mod s at j / s. P must hold s + 1 rows and 8 columns
    /// beyond the last tap.
    static func correlate(_ P: UnsafePointer<Float>, pitch: Int, phaseSize: Int, stride s: Int,
                          _ w: UnsafePointer<Float>, th: Int, tw: Int, bias: Float,
                          _ out: UnsafeMutablePointer<Float>, outPitch: Int, height: Int, width: Int, relu6: Bool) {
        switch (th, tw, s) {
        case (3, 3, 1): block(Taps3x3s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (3, 3, 2): block(Taps3x3s2.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (5, 5, 1): block(Taps5x5s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (5, 5, 2): block(Taps5x5s2.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (2, 2, 1): block(Taps2x2s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (1, 2, 1): block(Taps1x2s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (2, 1, 1): block(Taps2x1s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (1, 1, 1): block(Taps1x1s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (2, 3, 1): block(Taps2x3s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        case (3, 2, 1): block(Taps3x2s1.self, P, pitch, phaseSize, w, bias, out, outPitch, height, width, relu6)
        default: generic(P, pitch, phaseSize, s, w, th, tw, bias, out, outPitch, height, width, relu6)
        }
    }

    /// Specialised per tap shape, so the tap loops unroll into straight-line code.
    static func block<Shape: TapShape>(_: Shape.Type, _ P: UnsafePointer<Float>, _ pitch: Int, _ phaseSize: Int,
                                        _ w: UnsafePointer<Float>, _ bias: Float,
                                        _ out: UnsafeMutablePointer<Float>, _ outPitch: Int, _ ho: Int, _ wo: Int, _ relu6: Bool) {
        generic(P, pitch, phaseSize, Shape.s, w, Shape.th, Shape.tw, bias, out, outPitch, ho, wo, relu6)
    }

    @inline(__always)
    static func generic(_ P: UnsafePointer<Float>, _ pitch: Int, _ phaseSize: Int, _ s: Int,
                        _ w: UnsafePointer<Float>, _ th: Int, _ tw: Int, _ bias: Float,
                        _ out: UnsafeMutablePointer<Float>, _ outPitch: Int, _ ho: Int, _ wo: Int, _ relu6: Bool) {
        @inline(__always) func load(_ row: Int, _ x: Int, _ b: Int) -> SIMD8<Float> {
            load8(P + (b % s) * phaseSize + row * pitch + x + b / s)
        }
        @inline(__always) func store(_ v: SIMD8<Float>, _ y: Int, _ x: Int) {
            store8(relu6 ? Activation.relu6(v) : v, out + y * outPitch + x)
        }
        var y = 0
        while y < ho {
            let second = y + 1 < ho
            if wo >= 8 {
                var x = 0
                while true {
                    // The last block overlaps the one before (same values written twice).
                    if x + 8 > wo { x = wo - 8 }
                    var acc0 = SIMD8<Float>(repeating: bias), acc1 = acc0
                    for r in 0..<(th + s) {
                        let row = y * s + r
                        for b in 0..<tw {
                            let v = load(row, x, b)
                            if r < th { acc0 = acc0.addingProduct(SIMD8(repeating: w[r * tw + b]), v) }
                            if r >= s && r - s < th { acc1 = acc1.addingProduct(SIMD8(repeating: w[(r - s) * tw + b]), v) }
                        }
                    }
                    store(acc0, y, x)
                    if second { store(acc1, y + 1, x) }
                    if x + 8 >= wo { break }
                    x += 8
                }
            } else {
                for yy in y..<min(ho, y + 2) {
                    for x in 0..<wo {
                        var acc = bias
                        for a in 0..<th {
                            for b in 0..<tw { acc += w[a * tw + b] * P[(b % s) * phaseSize + (yy * s + a) * pitch + x + b / s] }
                        }
                        out[yy * outPitch + x] = relu6 ? min(6, max(0, acc)) : acc
                    }
                }
            }
            y += 2
        }
    }
}

/// A tap shape known at compile time (rows × columns, stride).
protocol TapShape { static var th: Int { get }; static var tw: Int { get }; static var s: Int { get } }
enum Taps3x3s1: TapShape { static var th: Int { 3 }; static var tw: Int { 3 }; static var s: Int { 1 } }
enum Taps3x3s2: TapShape { static var th: Int { 3 }; static var tw: Int { 3 }; static var s: Int { 2 } }
enum Taps5x5s1: TapShape { static var th: Int { 5 }; static var tw: Int { 5 }; static var s: Int { 1 } }
enum Taps5x5s2: TapShape { static var th: Int { 5 }; static var tw: Int { 5 }; static var s: Int { 2 } }
enum Taps2x2s1: TapShape { static var th: Int { 2 }; static var tw: Int { 2 }; static var s: Int { 1 } }
enum Taps1x2s1: TapShape { static var th: Int { 1 }; static var tw: Int { 2 }; static var s: Int { 1 } }
enum Taps2x1s1: TapShape { static var th: Int { 2 }; static var tw: Int { 1 }; static var s: Int { 1 } }
enum Taps1x1s1: TapShape { static var th: Int { 1 }; static var tw: Int { 1 }; static var s: Int { 1 } }
enum Taps2x3s1: TapShape { static var th: Int { 2 }; static var tw: Int { 3 }; static var s: Int { 1 } }
enum Taps3x2s1: TapShape { static var th: Int { 3 }; static var tw: Int { 2 }; static var s: Int { 1 } }
