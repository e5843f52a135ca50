/// 3×3 stride-1 convolutions by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2016):
/// each 4×4 block of outputs comes from a 6×6 input tile through Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A,
/// 36 products per channel pair where the direct form needs 144. The products of all tiles
/// in a tile row become 36 matrix products [out × in]·[in × tiles], run by `thinProduct`.
/// Used for the subject mask's U²-Net, whose FLOPs are almost all such convolutions.
/// The transforms widen the values' range (coefficients up to 5 per side and 1/24), so
/// results differ from the direct form by a few float roundings (≤ 1e-5 of the output scale;
/// tested).
extension Conv2D {
    /// Winograd applies: 3×3, stride 1, no dilation, enough channels and width for the
    /// products to fill 4 × 16 register blocks (smaller layers stay on the shifted product).
    func winogradApplies(outputWidth wo: Int) -> Bool {
        kernel == 3 && stride == 1 && dilation == 1 && inChannels >= 8 && outChannels >= 4
            && wo >= 64 && !convBLAS && WinogradSetting.enabled
    }

    /// U = G g Gᵀ for every (out, in) pair, laid out [36][out][in] (computed per call in
    /// Double: ~1 % of the convolution's work, and no 4× copy of the weights kept resident).
    func winogradWeights() -> [Float] {
        let g: [[Double]] = [[0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                             [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        let pairs = outChannels * inChannels
        var u = [Float](repeating: 0, count: 36 * pairs)
        for pair in 0..<pairs {
            let w = weight[(pair * 9)..<(pair * 9 + 9)].map(Double.init)
            var gw = [Double](repeating: 0, count: 18)   // G·w: 6 × 3
            for r in 0..<6 { for c in 0..<3 { gw[r * 3 + c] = (0..<3).reduce(0) { $0 + g[r][$1] * w[$1 * 3 + c] } } }
            for r in 0..<6 {
                for c in 0..<6 {
                    let v = (0..<3).reduce(0.0) { $0 + gw[r * 3 + $1] * g[c][$1] }
                    u[(r * 6 + c) * pairs + pair] = Float(v)
                }
            }
        }
        return u
    }

    func forwardWinograd(_ x: FeatureMap, relu: Bool, relu6: Bool) -> FeatureMap {
        let (p, ho, wo) = geometry(x)
        let batch = x.batch, cin = inChannels, cout = outChannels
        var out = FeatureMap(uninitialized: cout, batch: batch, height: ho, width: wo)
        guard ho > 0, wo > 0, batch > 0 else { return out }
        let tileRows = (ho + 3) / 4, tiles = (wo + 3) / 4
        let lanes = (tiles + 7) / 8 * 8   // tiles per row rounded up to whole vectors
        let u = winogradWeights()
        u.withUnsafeBufferPointer { ub in
            x.data.withUnsafeBufferPointer { xb in
                out.data.withUnsafeMutableBufferPointer { ob in
                    withOptionalPointer(bias) { biasp in
                        let job = UncheckedSendable(WinogradJob(
                            input: xb.baseAddress!, batch: batch, height: x.height, width: x.width, padTop: p.top, padLeft: p.left,
                            inChannels: cin, outChannels: cout, u: ub.baseAddress!, out: ob.baseAddress!, outHeight: ho, outWidth: wo,
                            tiles: tiles, lanes: lanes, epilogue: ProductEpilogue(bias: biasp, relu: relu, relu6: relu6)))
                        parallelFor(batch * tileRows) { units in
                            var scratch = WinogradScratch(job.value)
                            for unit in units { job.value.tileRow(unit / tileRows, unit % tileRows, &scratch) }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Whether eligible 3×3 convolutions run as Winograd products (default on; the environment
/// variable `CLIPASCENE_WINOGRAD=0` or the bench, for its side-by-side timing, turns it off).
/// Set it only between runs, never while a convolution is in flight.
public enum WinogradSetting {
    nonisolated(unsafe) public static var enabled = getenvString("CLIPASCENE_WINOGRAD") != "0"
}

/// One worker's buffers: a padded input row, the row-transformed tile rows, the transformed
/// tiles V [36][in][lanes] and the products M [36][out][lanes].
struct WinogradScratch {
    var padded: [Float], row: [Float], rowT: [Float], v: [Float], m: [Float]
    /// The output transform's first half for eight tiles (24 vectors), then the last, partial
    /// vector of a row as [column][tile].
    var outT = [Float](repeating: 0, count: 24 * 8 + 4 * 32)
    init(_ job: WinogradJob) {
        padded = [Float](repeating: 0, count: 4 * (job.lanes + 8))
        row = [Float](repeating: 0, count: 4 * (job.lanes + 8))
        rowT = [Float](repeating: 0, count: 36 * job.lanes)
        v = [Float](repeating: 0, count: 36 * job.inChannels * job.lanes)
        m = [Float](repeating: 0, count: 36 * job.outChannels * job.lanes)
    }
}

struct WinogradJob {
    let input: UnsafePointer<Float>, batch: Int, height: Int, width: Int, padTop: Int, padLeft: Int
    let inChannels: Int, outChannels: Int
    let u: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int
    /// Tiles across one tile row, and that count rounded up to a multiple of 8.
    let tiles: Int, lanes: Int
    let epilogue: ProductEpilogue

    /// Output rows 4·ty … 4·ty + 3 of image n, all channels.
    func tileRow(_ n: Int, _ ty: Int, _ s: inout WinogradScratch) {
        s.padded.withUnsafeMutableBufferPointer { pb in
            s.row.withUnsafeMutableBufferPointer { rowb in
                s.rowT.withUnsafeMutableBufferPointer { rtb in
                    s.v.withUnsafeMutableBufferPointer { vb in
                        s.m.withUnsafeMutableBufferPointer { mb in
                            let v = vb.baseAddress!, m = mb.baseAddress!
                            for c in 0..<inChannels {
                                transformInput(channel: c, n, ty, pb.baseAddress!, rowb.baseAddress!, rtb.baseAddress!, v)
                            }
                            // 36 products [out × in]·[in × tiles].
                            let pairs = outChannels * inChannels
                            for xi in 0..<36 {
                                thinProduct(m: outChannels, n: tiles, k: inChannels, a: u + xi * pairs,
                                            b: v + xi * inChannels * lanes, ldb: lanes,
                                            c: m + xi * outChannels * lanes, ldc: lanes)
                            }
                            s.outT.withUnsafeMutableBufferPointer { tb in
                                for o in 0..<outChannels { transformOutput(channel: o, n, ty, m, tb.baseAddress!) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Bᵀ d B for every tile of one input channel, eight tiles per vector. A padded input
    /// row is split into its four column phases (x mod 4), so column j of tiles tx … tx+7
    /// is one contiguous load: phase j mod 4 at index tx + j/4.
    @inline(__always)
    func transformInput(channel c: Int, _ n: Int, _ ty: Int, _ padded: UnsafeMutablePointer<Float>, _ row: UnsafeMutablePointer<Float>,
                        _ rowT: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>) {
        let plane = input + (c * batch + n) * height * width
        let phaseLength = lanes + 8
        // Row transform (d B along x) of the tile row's six input rows: rowT[i][k][tile].
        for i in 0..<6 {
            let y = 4 * ty - padTop + i
            let dst = rowT + i * 6 * lanes
            guard y >= 0 && y < height else {
                dst.update(repeating: 0, count: 6 * lanes)
                continue
            }
            // Phase split of the padded row: phase r, index q holds x[y][4q + r − padLeft]. The
            // row goes into `padded` at padLeft (whose other entries stay zero for the whole job),
            // then into the four phases.
            padded.advanced(by: padLeft).update(from: plane + y * width, count: width)
            // Eight quads per turn through SIMD16's even/odd halves (two levels give the four
            // phases; LLVM emits shuffles for these, not for vectors built lane by lane).
            var q = 0
            while q < phaseLength {
                let a = UnsafeRawPointer(padded + 4 * q).loadUnaligned(as: SIMD16<Float>.self)
                let b = UnsafeRawPointer(padded + 4 * q + 16).loadUnaligned(as: SIMD16<Float>.self)
                let e = SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf), f = SIMD16(lowHalf: a.oddHalf, highHalf: b.oddHalf)
                UnsafeMutableRawPointer(row + q).storeBytes(of: e.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + phaseLength + q).storeBytes(of: f.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 2 * phaseLength + q).storeBytes(of: e.oddHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 3 * phaseLength + q).storeBytes(of: f.oddHalf, as: SIMD8<Float>.self)
                q += 8
            }
            var t = 0
            while t < lanes {
                let d0 = load8(row + t), d1 = load8(row + phaseLength + t)
                let d2 = load8(row + 2 * phaseLength + t), d3 = load8(row + 3 * phaseLength + t)
                let d4 = load8(row + t + 1), d5 = load8(row + phaseLength + t + 1)
                store8(4 * d0 - 5 * d2 + d4, dst + t)
                store8(d3 + d4 - 4 * (d1 + d2), dst + lanes + t)
                store8(4 * (d1 - d2) + d4 - d3, dst + 2 * lanes + t)
                store8(2 * (d3 - d1) + d4 - d2, dst + 3 * lanes + t)
                store8(2 * (d1 - d3) + d4 - d2, dst + 4 * lanes + t)
                store8(4 * d1 - 5 * d3 + d5, dst + 5 * lanes + t)
                t += 8
            }
        }
        // Column transform (Bᵀ · along y) into V[(k', k)][c][tile].
        let stride = inChannels * lanes
        let base = v + c * lanes
        for k in 0..<6 {
            var t = 0
            while t < lanes {
                let r0 = load8(rowT + k * lanes + t), r1 = load8(rowT + (6 + k) * lanes + t)
                let r2 = load8(rowT + (12 + k) * lanes + t), r3 = load8(rowT + (18 + k) * lanes + t)
                let r4 = load8(rowT + (24 + k) * lanes + t), r5 = load8(rowT + (30 + k) * lanes + t)
                store8(4 * r0 - 5 * r2 + r4, base + k * stride + t)
                store8(r3 + r4 - 4 * (r1 + r2), base + (6 + k) * stride + t)
                store8(4 * (r1 - r2) + r4 - r3, base + (12 + k) * stride + t)
                store8(2 * (r3 - r1) + r4 - r2, base + (18 + k) * stride + t)
                store8(2 * (r1 - r3) + r4 - r2, base + (24 + k) * stride + t)
                store8(4 * r1 - 5 * r3 + r5, base + (30 + k) * stride + t)
                t += 8
            }
        }
    }

    /// Aᵀ M A for every tile of one output channel, then bias and activation, stored for the
    /// outputs inside the image.
    @inline(__always)
    func transformOutput(channel o: Int, _ n: Int, _ ty: Int, _ m: UnsafePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let stride = outChannels * lanes
        let base = m + o * lanes
        let outPlane = (o * batch + n) * outHeight * outWidth
        let sr = tmp, b = tmp + 24 * 8   // b: [column s][tile]
        do {
            var t = 0
            while t < tiles {
                // Aᵀ along y first: sr[r·6 + k] for r < 4, k < 6.
                for k in 0..<6 {
                    let m0 = load8(base + k * stride + t), m1 = load8(base + (6 + k) * stride + t)
                    let m2 = load8(base + (12 + k) * stride + t), m3 = load8(base + (18 + k) * stride + t)
                    let m4 = load8(base + (24 + k) * stride + t), m5 = load8(base + (30 + k) * stride + t)
                    let a = m1 + m2, d = m1 - m2, e = m3 + m4, f = m3 - m4
                    store8(m0 + a + e, sr + k * 8)
                    store8(d + 2 * f, sr + (6 + k) * 8)
                    store8(a + 4 * e, sr + (12 + k) * 8)
                    store8(d + 8 * f + m5, sr + (18 + k) * 8)
                }
                let count = min(8, tiles - t), x0 = 4 * t
                for r in 0..<4 {
                    let y = 4 * ty + r
                    guard y < outHeight else { break }
                    let q = sr + r * 48
                    let m0 = load8(q), m1 = load8(q + 8), m2 = load8(q + 16)
                    let m3 = load8(q + 24), m4 = load8(q + 32), m5 = load8(q + 40)
                    let a = m1 + m2, d = m1 - m2, e = m3 + m4, f = m3 - m4
                    // Columns s = 0…3 of eight tiles, bias and activation applied eight at a time
                    // (the epilogue holds no per-output maps here), then interleaved into the
                    // row: output 4·tile + s.
                    let y0 = m0 + a + e, y1 = d + 2 * f, y2 = a + 4 * e, y3 = d + 8 * f + m5
                    let f0 = ThinProductKernel.finish(y0, row: o, at: 0, epilogue)
                    let f1 = ThinProductKernel.finish(y1, row: o, at: 0, epilogue)
                    let f2 = ThinProductKernel.finish(y2, row: o, at: 0, epilogue)
                    let f3 = ThinProductKernel.finish(y3, row: o, at: 0, epilogue)
                    let dst = out + outPlane + y * outWidth + x0
                    let valid = min(4 * count, outWidth - x0)
                    if valid == 32 {
                        // Two levels of even/odd interleave (shuffles): s0 s2 | s1 s3, then both.
                        var z = SIMD16<Float>(), w = SIMD16<Float>(), q = SIMD32<Float>()
                        z.evenHalf = f0; z.oddHalf = f2; w.evenHalf = f1; w.oddHalf = f3
                        q.evenHalf = z; q.oddHalf = w
                        UnsafeMutableRawPointer(dst).storeBytes(of: q, as: SIMD32<Float>.self)
                    } else {
                        store8(f0, b); store8(f1, b + 8); store8(f2, b + 16); store8(f3, b + 24)
                        for i in 0..<valid { dst[i] = b[(i % 4) * 8 + i / 4] }
                    }
                }
                t += 8
            }
        }
    }
}
