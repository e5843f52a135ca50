import Tensors

/// Resampling kernels. Shrinking widens the kernel by the scale factor
/// (antialiasing, as Pillow does), so no detail aliases into the result.
public enum ResampleFilter: Sendable {
    case bicubic   // Keys cubic, a = −0.5 (Pillow's choice)
    case bilinear  // triangle

    var support: Double {
        switch self {
        case .bicubic: return 2
        case .bilinear: return 1
        }
    }

    @inline(__always)
    func weight(_ t: Double) -> Double {
        let x = abs(t)
        switch self {
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .bilinear:
            return x < 1 ? 1 - x : 0
        }
    }
}

/// Precomputed taps for resampling one axis from `inSize` to `outSize` samples.
struct ResampleTaps {
    var start: [Int]
    var weights: [[Float]]

    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        start = []
        weights = []
        start.reserveCapacity(outSize)
        weights.reserveCapacity(outSize)
        for i in 0..<outSize {
            let center = (Double(i) + 0.5) * scale
            let lo = max(Int((center - support + 0.5).rounded(.down)), 0)
            let hi = min(Int((center + support + 0.5).rounded(.down)), inSize)
            var w = [Double]()
            for j in lo..<max(lo, hi) { w.append(filter.weight((Double(j) - center + 0.5) / filterScale)) }
            let total = w.reduce(0, +)
            if w.isEmpty || total == 0 {
                // Degenerate window (cannot happen for sane sizes): take the nearest sample.
                start.append(min(inSize - 1, max(0, Int(center))))
                weights.append([1])
            } else {
                start.append(lo)
                weights.append(w.map { Float($0 / total) })
            }
        }
    }
}

/// Resamples `planes` planes of `inW`×`inH` floats to `outW`×`outH` (separable, rows then columns).
func resamplePlanes(_ src: [Float], planes: Int, inW: Int, inH: Int, outW: Int, outH: Int,
                    filter: ResampleFilter) -> [Float] {
    let tx = ResampleTaps(inSize: inW, outSize: outW, filter: filter)
    let ty = ResampleTaps(inSize: inH, outSize: outH, filter: filter)
    var mid = [Float](repeating: 0, count: planes * inH * outW)
    src.withUnsafeBufferPointer { s in
        mid.withUnsafeMutableBufferPointer { m in
            let mp = UncheckedSendable(m)
            parallelFor(planes * inH, minChunk: 16) { rows in
                for row in rows {
                    let sRow = row * inW, mRow = row * outW
                    for x in 0..<outW {
                        let w = tx.weights[x]
                        var acc: Float = 0
                        let st = tx.start[x]
                        for k in 0..<w.count { acc += w[k] * s[sRow + st + k] }
                        mp.value[mRow + x] = acc
                    }
                }
            }
        }
    }
    var out = [Float](repeating: 0, count: planes * outH * outW)
    mid.withUnsafeBufferPointer { m in
        out.withUnsafeMutableBufferPointer { o in
            let op = UncheckedSendable(o)
            parallelFor(planes * outH, minChunk: 16) { rows in
                for row in rows {
                    let p = row / outH, y = row % outH
                    let w = ty.weights[y], st = ty.start[y]
                    let oRow = (p * outH + y) * outW
                    for x in 0..<outW { op.value[oRow + x] = 0 }
                    for k in 0..<w.count {
                        let mRow = (p * inH + st + k) * outW
                        let wk = w[k]
                        for x in 0..<outW { op.value[oRow + x] += wk * m[mRow + x] }
                    }
                }
            }
        }
    }
    return out
}

extension RGBImage {
    /// The image resampled to `width`×`height` (bicubic by default, antialiased when shrinking).
    public func resized(width: Int, height: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)×\(height)")
        if width == self.width && height == self.height { return self }
        let out = resamplePlanes(pixels, planes: 3, inW: self.width, inH: self.height,
                                 outW: width, outH: height, filter: filter)
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Values clamped to [0, 1] (cubic filters overshoot at edges).
    public func clamped() -> RGBImage {
        RGBImage(width: width, height: height, pixels: pixels.map { min(1, max(0, $0)) })
    }
}

extension GrayImage {
    public func resized(width: Int, height: Int, filter: ResampleFilter = .bilinear) -> GrayImage {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)×\(height)")
        if width == self.width && height == self.height { return self }
        let out = resamplePlanes(pixels, planes: 1, inW: self.width, inH: self.height,
                                 outW: width, outH: height, filter: filter)
        return GrayImage(width: width, height: height, pixels: out)
    }
}
