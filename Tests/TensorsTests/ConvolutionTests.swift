import XCTest
import Tensors
import TestSupport

/// Every convolution against a direct loop over the definition (forward), and its backward
/// against the adjoint identity ⟨dy, conv(x)⟩ = ⟨conv⊤(dy), x⟩ for bias-free convolutions,
/// plus central differences on a few inputs.
final class ConvolutionTests: XCTestCase {
    /// Shapes that reach every code path: planes narrower than 8 columns, widths that are not
    /// multiples of 8, odd heights (a single last row), odd and even sizes under stride 2,
    /// single pixels, and odd widths past 32 (the vector even/odd split and interleave).
    let sizes = [(1, 1), (2, 3), (5, 6), (7, 7), (9, 17), (12, 16), (13, 21), (4, 33), (28, 28)]

    func directDepthwise(_ x: FeatureMap, _ w: [Float], _ b: [Float], k: Int, s: Int) -> FeatureMap {
        let p = Padding.same(height: x.height, width: x.width, kernel: k, stride: s)
        let ho = (x.height + s - 1) / s, wo = (x.width + s - 1) / s
        var out = FeatureMap(zeros: x.channels, batch: x.batch, height: ho, width: wo)
        for c in 0..<x.channels {
            for n in 0..<x.batch {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var acc = Double(b[c])
                        for a in 0..<k {
                            for bb in 0..<k {
                                let iy = oy * s + a - p.top, ix = ox * s + bb - p.left
                                guard iy >= 0, iy < x.height, ix >= 0, ix < x.width else { continue }
                                acc += Double(w[(c * k + a) * k + bb]) * Double(x.data[((c * x.batch + n) * x.height + iy) * x.width + ix])
                            }
                        }
                        out.data[((c * x.batch + n) * ho + oy) * wo + ox] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    func testDepthwiseForwardMatchesTheDefinition() {
        var rng = SeededRandom(1)
        for k in [3, 5] {
            for s in [1, 2] {
                for (h, w) in sizes {
                    let channels = 3, batch = 2
                    let x = FeatureMap(channels: channels, batch: batch, height: h, width: w, data: rng.centred(channels * batch * h * w))
                    let weight = rng.centred(channels * k * k), bias = rng.centred(channels)
                    let conv = DepthwiseConv(weight: weight, bias: bias, channels: channels, kernel: k, stride: s)
                    let got = conv.forward(x), want = directDepthwise(x, weight, bias, k: k, s: s)
                    XCTAssertEqual(got.height, want.height); XCTAssertEqual(got.width, want.width)
                    for i in want.data.indices {
                        XCTAssertEqual(got.data[i], want.data[i], accuracy: 1e-5, "k \(k) s \(s) \(h)×\(w) at \(i)")
                    }
                    let clamped = conv.forward(x, relu6: true)
                    for i in want.data.indices { XCTAssertEqual(clamped.data[i], min(6, max(0, want.data[i])), accuracy: 1e-5) }
                }
            }
        }
    }

    func testDepthwiseBackwardIsTheAdjoint() {
        var rng = SeededRandom(2)
        for k in [3, 5] {
            for s in [1, 2] {
                for (h, w) in sizes {
                    let channels = 2, batch = 3
                    let x = rng.centred(channels * batch * h * w)
                    let conv = DepthwiseConv(weight: rng.centred(channels * k * k), bias: nil, channels: channels, kernel: k, stride: s)
                    let y = conv.forward(FeatureMap(channels: channels, batch: batch, height: h, width: w, data: x))
                    let dy = FeatureMap(channels: channels, batch: batch, height: y.height, width: y.width, data: rng.centred(y.count))
                    let dx = conv.backward(dy, inputHeight: h, inputWidth: w)
                    XCTAssertEqual(dx.count, x.count)
                    let lhs = dot(dy.data, y.data), rhs = dot(dx.data, x)
                    XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "k \(k) s \(s) \(h)×\(w)")
                }
            }
        }
    }

    func testDepthwiseBackwardMasksByAReLU6Output() {
        var rng = SeededRandom(7)
        for s in [1, 2] {
            let channels = 3, batch = 2, h = 11, w = 19
            let conv = DepthwiseConv(weight: rng.centred(channels * 9), bias: nil, channels: channels, kernel: 3, stride: s)
            let ho = (h + s - 1) / s, wo = (w + s - 1) / s
            let dy = FeatureMap(channels: channels, batch: batch, height: ho, width: wo, data: rng.centred(channels * batch * ho * wo))
            // Values spread over [-3, 9): some below 0, some above 6, most inside.
            let y = FeatureMap(channels: channels, batch: batch, height: h, width: w, data: rng.centred(channels * batch * h * w).map { $0 * 12 + 3 })
            var want = conv.backward(dy, inputHeight: h, inputWidth: w)
            Activation.relu6Backward(&want, mask: ReLU6Mask(output: y))
            XCTAssertEqual(conv.backward(dy, inputHeight: h, inputWidth: w, relu6Mask: ReLU6Mask(output: y)), want, "stride \(s)")
        }
    }

    /// A dense convolution by its definition, in Double.
    func directConv(_ x: FeatureMap, _ weight: [Float], _ bias: [Float], outChannels cout: Int, k: Int, s: Int, d: Int,
                    padding p: Padding, relu: Bool) -> (values: [Double], height: Int, width: Int) {
        let cin = x.channels, batch = x.batch, h = x.height, w = x.width
        let ho = convOutputSize(h, kernel: k, stride: s, dilation: d, padBefore: p.top, padAfter: p.bottom)
        let wo = convOutputSize(w, kernel: k, stride: s, dilation: d, padBefore: p.left, padAfter: p.right)
        var out = [Double](repeating: 0, count: cout * batch * ho * wo)
        for o in 0..<cout {
            for n in 0..<batch {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var acc = Double(bias[o])
                        for c in 0..<cin {
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let iy = oy * s + ky * d - p.top, ix = ox * s + kx * d - p.left
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    acc += Double(weight[((o * cin + c) * k + ky) * k + kx]) * Double(x.data[((c * batch + n) * h + iy) * w + ix])
                                }
                            }
                        }
                        out[((o * batch + n) * ho + oy) * wo + ox] = relu ? max(0, acc) : acc
                    }
                }
            }
        }
        return (out, ho, wo)
    }

    func testConv2DForwardMatchesTheDefinition() {
        var rng = SeededRandom(6)
        // Stride 1 runs the shifted product (4×16 and 1×16 blocks, scalar below 16 columns);
        // stride 2 runs im2col. Output channels 1, 4 and 6 reach the row remainders.
        for (k, s, d, cout, w) in [(3, 1, 1, 6, 37), (3, 1, 2, 1, 20), (3, 1, 1, 4, 9), (3, 2, 1, 5, 21), (1, 1, 1, 3, 17)] {
            let cin = 3, batch = 2, h = 7
            let pad = Padding(top: d, left: d, bottom: d + (s - 1), right: d)
            let weight = rng.centred(cout * cin * k * k), bias = rng.centred(cout)
            let conv = Conv2D(weight: weight, bias: bias, inChannels: cin, outChannels: cout, kernel: k, stride: s,
                              dilation: d, padding: k == 1 ? Padding(0) : pad)
            let p = conv.padding(for: FeatureMap(zeros: cin, batch: batch, height: h, width: w))
            let x = FeatureMap(channels: cin, batch: batch, height: h, width: w, data: rng.centred(cin * batch * h * w))
            for relu in [false, true] {
                let y = conv.forward(x, relu: relu)
                let ref = directConv(x, weight, bias, outChannels: cout, k: k, s: s, d: d, padding: p, relu: relu)
                XCTAssertEqual([y.height, y.width], [ref.height, ref.width])
                for (i, v) in ref.values.enumerated() {
                    XCTAssertEqual(y.data[i], Float(v), accuracy: 1e-5, "k \(k) s \(s) d \(d) cout \(cout) w \(w) at \(i)")
                }
            }
        }
    }

    /// Winograd F(4×4, 3×3) (3×3, stride 1, ≥ 8 input channels, ≥ 64 output columns): widths
    /// and heights that leave partial tiles and a partial last vector of tiles, channel counts
    /// that leave row remainders in the products, symmetric and one-sided padding.
    func testWinogradConvolutionMatchesTheDefinition() {
        var rng = SeededRandom(16)
        for (cin, cout, h, w, pad) in [(8, 4, 5, 64, Padding(1)), (13, 6, 9, 70, Padding(1)),
                                       (16, 17, 12, 67, Padding(top: 0, left: 0, bottom: 2, right: 2)),
                                       (9, 5, 3, 130, Padding(top: 2, left: 1, bottom: 0, right: 1))] {
            let batch = 2
            let weight = rng.centred(cout * cin * 9), bias = rng.centred(cout)
            let conv = Conv2D(weight: weight, bias: bias, inChannels: cin, outChannels: cout, kernel: 3, padding: pad)
            let x = FeatureMap(channels: cin, batch: batch, height: h, width: w, data: rng.centred(cin * batch * h * w))
            for relu in [false, true] {
                let y = conv.forward(x, relu: relu)
                let ref = directConv(x, weight, bias, outChannels: cout, k: 3, s: 1, d: 1, padding: pad, relu: relu)
                XCTAssertEqual([y.height, y.width], [ref.height, ref.width])
                let scale = ref.values.map(abs).max() ?? 1
                var worst = 0.0
                for (i, v) in ref.values.enumerated() { worst = max(worst, abs(Double(y.data[i]) - v)) }
                XCTAssertLessThan(worst / scale, 1e-5, "cin \(cin) cout \(cout) \(h)×\(w) relu \(relu)")
            }
        }
    }

    func testConv2DBackwardIsTheAdjointAndMatchesDifferences() {
        var rng = SeededRandom(3)
        for (k, s, dilation) in [(3, 2, 1), (3, 1, 2), (1, 1, 1)] {
            let cin = 3, cout = 4, batch = 2, h = 11, w = 9
            let conv = Conv2D(weight: rng.centred(cout * cin * k * k), bias: nil, inChannels: cin, outChannels: cout,
                              kernel: k, stride: s, dilation: dilation, padding: nil)
            let xm = FeatureMap(channels: cin, batch: batch, height: h, width: w, data: rng.centred(cin * batch * h * w))
            let y = conv.forward(xm)
            let dy = FeatureMap(channels: cout, batch: batch, height: y.height, width: y.width, data: rng.centred(y.count))
            let dx = conv.backward(dy, inputShape: xm)
            let lhs = dot(dy.data, y.data), rhs = dot(dx.data, xm.data)
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "k \(k) s \(s) d \(dilation)")
            // Central differences of ⟨dy, conv(x)⟩ at a few inputs.
            for i in stride(from: 0, to: xm.count, by: 37) {
                var plus = xm, minus = xm
                plus.data[i] += 1e-2; minus.data[i] -= 1e-2
                let numeric = (dot(dy.data, conv.forward(plus).data) - dot(dy.data, conv.forward(minus).data)) / 2e-2
                XCTAssertEqual(Double(dx.data[i]), numeric, accuracy: 1e-3, "k \(k) s \(s) input \(i)")
            }
        }
    }

    func testPointwiseForwardAddsBiasAndBackwardIsTheAdjoint() {
        var rng = SeededRandom(4)
        let cin = 5, cout = 3, batch = 2, h = 3, w = 4
        let weight = rng.centred(cout * cin), bias = rng.centred(cout)
        let x = FeatureMap(channels: cin, batch: batch, height: h, width: w, data: rng.centred(cin * batch * h * w))
        let y = PointwiseConv(weight: weight, bias: bias, inChannels: cin, outChannels: cout).forward(x)
        for o in 0..<cout {
            for j in 0..<x.columns {
                var acc = bias[o]
                for c in 0..<cin { acc += weight[o * cin + c] * x.data[c * x.columns + j] }
                XCTAssertEqual(y.data[o * x.columns + j], acc, accuracy: 1e-5)
            }
        }
        let plain = PointwiseConv(weight: weight, bias: nil, inChannels: cin, outChannels: cout)
        let dy = FeatureMap(channels: cout, batch: batch, height: h, width: w, data: rng.centred(cout * batch * h * w))
        XCTAssertEqual(dot(dy.data, plain.forward(x).data), dot(plain.backward(dy).data, x.data), accuracy: 1e-4)
    }

    func testReLU6AndItsBackward() {
        let values: [Float] = [-1, 0, 0.5, 3, 6, 7, -0.1, 5.9, 2, 8, 1]
        var x = FeatureMap(channels: 1, batch: 1, height: 1, width: values.count, data: values)
        Activation.relu6(&x)
        XCTAssertEqual(x.data, values.map { min(6, max(0, $0)) })
        var g = FeatureMap(channels: 1, batch: 1, height: 1, width: values.count, data: Array(repeating: 1, count: values.count))
        Activation.relu6Backward(&g, mask: ReLU6Mask(output: x))
        XCTAssertEqual(g.data, x.data.map { $0 > 0 && $0 < 6 ? 1 : 0 })
    }

    /// A mask passes exactly where its output is strictly inside (0, 6), in the eight-lane
    /// body and the tail alike; NaN and the infinities do not pass.
    func testReLU6MaskPassesStrictlyInside() {
        var rng = SeededRandom(3)
        var values = rng.centred(37).map { $0 * 16 - 2 }
        values[0] = 0; values[1] = 6; values[2] = .nan; values[3] = .infinity; values[4] = -.infinity
        values[5] = .leastNonzeroMagnitude; values[6] = Float(6).nextDown; values[35] = .nan; values[36] = 3
        let y = FeatureMap(channels: 1, batch: 1, height: 1, width: values.count, data: values)
        let mask = ReLU6Mask(output: y)
        XCTAssertEqual(values.indices.map { mask[$0] }, values.map { $0 > 0 && $0 < 6 })
        XCTAssertEqual(mask.count, values.count)
        var g = FeatureMap(channels: 1, batch: 1, height: 1, width: values.count, data: rng.centred(values.count))
        let before = g.data
        Activation.relu6Backward(&g, mask: mask)
        XCTAssertEqual(g.data, before.indices.map { mask[$0] ? before[$0] : 0 })
    }

    func testBatchSplitAndJoinRoundTrip() {
        var rng = SeededRandom(5)
        let x = FeatureMap(channels: 3, batch: 5, height: 2, width: 3, data: rng.centred(90))
        let parts = [x.images(0..<2), x.images(2..<3), x.images(3..<5)]
        XCTAssertEqual(parts.map(\.batch), [2, 1, 2])
        XCTAssertEqual(FeatureMap(joining: parts), x)
        XCTAssertEqual(x.images(1..<2).data, (0..<3).flatMap { c in x.data[(c * 5 + 1) * 6..<(c * 5 + 2) * 6] })
    }
}
