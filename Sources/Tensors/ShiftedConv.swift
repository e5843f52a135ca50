/// Stride-1 convolutions without im2col: output row oy, columns ox… read tap (ky, kx) of
/// channel c straight from a zero-padded copy of the input at row oy + ky·d, column
/// ox + kx·d. The product runs over (tap, channel) with 4 output channels × 16 columns held
/// in registers, bias and activation fused, so the gathered matrix (9× the input) is never
/// written and never packed.
extension Conv2D {
    /// Weights reordered [out][ky][kx][in], the order the shifted product walks them.
    static func tapMajor(_ weight: [Float], outChannels: Int, inChannels: Int, kernel: Int) -> [Float] {
        let kk = kernel * kernel
        var t = [Float](repeating: 0, count: weight.count)
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                for tap in 0..<kk { t[(o * kk + tap) * inChannels + c] = weight[(o * inChannels + c) * kk + tap] }
            }
        }
        return t
    }

    func forwardShifted(_ x: FeatureMap, relu: Bool, relu6: Bool) -> FeatureMap {
        let (p, ho, wo) = geometry(x)
        let hp = x.height + p.top + p.bottom, wp = x.width + p.left + p.right
        let cin = inChannels, cout = outChannels, batch = x.batch
        // Padded copy laid out [row][channel][column]: the rows one output row reads, for all
        // channels, are one contiguous stretch (fewer pages and streams than one plane per channel).
        let pitch = cin * wp
        var out = FeatureMap(uninitialized: cout, batch: batch, height: ho, width: wo)
        guard ho > 0, wo > 0, batch > 0 else { return out }
        let kk = kernel * kernel
        let offsets = (0..<kk).map { t in (t / kernel) * dilation * pitch + (t % kernel) * dilation }
        var padded = [Float](repeating: 0, count: hp * pitch)
        for n in 0..<batch {
            // Padded copy of image n (the border stays zero from one image to the next).
            padded.withUnsafeMutableBufferPointer { pb in
                x.data.withUnsafeBufferPointer { xb in
                    for c in 0..<cin {
                        let src = xb.baseAddress! + (c * batch + n) * x.plane
                        let dst = pb.baseAddress! + p.top * pitch + c * wp + p.left
                        for y in 0..<x.height { (dst + y * pitch).update(from: src + y * x.width, count: x.width) }
                    }
                }
            }
            padded.withUnsafeBufferPointer { pb in
                shiftedWeight.withUnsafeBufferPointer { wb in
                    offsets.withUnsafeBufferPointer { ob in
                        out.data.withUnsafeMutableBufferPointer { outb in
                            withOptionalPointer(bias) { biasp in
                                let job = UncheckedSendable(ShiftedJob(
                                    input: pb.baseAddress!, planeP: wp, pitch: pitch, offsets: ob.baseAddress!, taps: kk,
                                    inChannels: cin, weight: wb.baseAddress!, outChannels: cout,
                                    out: outb.baseAddress! + n * ho * wo, ldc: batch * ho * wo, outWidth: wo,
                                    epilogue: ProductEpilogue(bias: biasp, relu: relu, relu6: relu6)))
                                parallelFor(ho) { rows in
                                    for oy in rows { job.value.row(oy) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// One image's shifted product, row by row.
struct ShiftedJob {
    /// Padded input; planeP = distance between channels, pitch = between rows.
    let input: UnsafePointer<Float>, planeP: Int, pitch: Int
    let offsets: UnsafePointer<Int>, taps: Int
    let inChannels: Int
    let weight: UnsafePointer<Float>, outChannels: Int
    let out: UnsafeMutablePointer<Float>, ldc: Int, outWidth: Int
    let epilogue: ProductEpilogue

    func row(_ oy: Int) {
        let depth = taps * inChannels
        let wo = outWidth
        guard wo >= 16 else {
            for o in 0..<outChannels { for ox in 0..<wo { scalar(o, oy, ox) } }
            return
        }
        var ox = 0
        while true {
            if ox + 16 > wo { ox = wo - 16 }  // overlaps the block before: same values again
            var i = 0
            if outChannels >= 4 {
                while true {
                    if i + 4 > outChannels { i = outChannels - 4 }
                    block4x16(i, oy, ox, depth)
                    if i + 4 >= outChannels { break }
                    i += 4
                }
            } else {
                for o in 0..<outChannels { block1x16(o, oy, ox, depth) }
            }
            if ox + 16 >= wo { break }
            ox += 16
        }
    }

    @inline(__always)
    func put(_ v: SIMD8<Float>, _ o: Int, _ oy: Int, _ ox: Int) {
        let offset = o * ldc + oy * outWidth + ox
        store8(ThinProductKernel.finish(v, row: o, at: offset, epilogue), out + offset)
    }

    func block4x16(_ i: Int, _ oy: Int, _ ox: Int, _ depth: Int) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var a = weight + i * depth
        let origin = input + oy * pitch + ox
        for t in 0..<taps {
            var b = origin + offsets[t]
            for _ in 0..<inChannels {
                let b0 = load8(b), b1 = load8(b + 8)
                b += planeP
                var s = SIMD8<Float>(repeating: a[0])
                c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
                s = SIMD8<Float>(repeating: a[depth])
                c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
                s = SIMD8<Float>(repeating: a[2 * depth])
                c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
                s = SIMD8<Float>(repeating: a[3 * depth])
                c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
                a += 1
            }
        }
        put(c00, i, oy, ox); put(c01, i, oy, ox + 8); put(c10, i + 1, oy, ox); put(c11, i + 1, oy, ox + 8)
        put(c20, i + 2, oy, ox); put(c21, i + 2, oy, ox + 8); put(c30, i + 3, oy, ox); put(c31, i + 3, oy, ox + 8)
    }

    func block1x16(_ o: Int, _ oy: Int, _ ox: Int, _ depth: Int) {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
        var a = weight + o * depth
        let origin = input + oy * pitch + ox
        for t in 0..<taps {
            var b = origin + offsets[t]
            var c = 0
            // Two channels per turn: two independent chains per vector.
            while c + 2 <= inChannels {
                c0 = c0.addingProduct(SIMD8(repeating: a[0]), load8(b)); c1 = c1.addingProduct(SIMD8(repeating: a[0]), load8(b + 8))
                d0 = d0.addingProduct(SIMD8(repeating: a[1]), load8(b + planeP)); d1 = d1.addingProduct(SIMD8(repeating: a[1]), load8(b + planeP + 8))
                b += 2 * planeP; a += 2; c += 2
            }
            if c < inChannels {
                c0 = c0.addingProduct(SIMD8(repeating: a[0]), load8(b)); c1 = c1.addingProduct(SIMD8(repeating: a[0]), load8(b + 8))
                a += 1
            }
        }
        put(c0 + d0, o, oy, ox); put(c1 + d1, o, oy, ox + 8)
    }

    func scalar(_ o: Int, _ oy: Int, _ ox: Int) {
        var acc: Float = 0
        let a = weight + o * taps * inChannels
        for t in 0..<taps {
            let b = input + oy * pitch + ox + offsets[t]
            for c in 0..<inChannels { acc += a[t * inChannels + c] * b[c * planeP] }
        }
        let offset = o * ldc + oy * outWidth + ox
        out[offset] = epilogue.apply(acc, row: o, at: offset)
    }
}
