import Foundation
import Tensors

/// CLIP's image tower (ViT: patch embedding, class token, positional embedding, ln_pre,
/// pre-LN residual blocks of multi-head attention and a QuickGELU MLP): the residual stream
/// after any block, for all tokens (class token first), and the gradient of a loss on those
/// features back to the input image, with the weights frozen. fp32 throughout.
///
/// Token matrices are row-major [batch·tokens × width]: every linear layer is one GEMM over
/// the whole batch, and attention works on one (image, head) slice at a time.
public final class CLIPVisual: Sendable {
    public let width: Int, heads: Int, layers: Int, patch: Int, grid: Int
    public var tokens: Int { grid * grid + 1 }
    public var resolution: Int { grid * patch }
    public static let layerNormEpsilon: Float = 1e-5
    /// Blocks of the official ViT-B/32 image tower.
    public static let officialLayers = 12
    /// The input normalisation this tower expects.
    public static let normalisation = EncoderInput.clip

    struct Linear: Sendable {
        let weight: [Float]   // [out × in]
        let bias: [Float]
        let inputs: Int, outputs: Int
    }
    struct Block: Sendable {
        let ln1: (gain: [Float], bias: [Float])
        let inProjection: Linear      // W → 3W (q, k, v)
        let outProjection: Linear     // W → W
        let ln2: (gain: [Float], bias: [Float])
        let fc: Linear                // W → 4W
        let projection: Linear        // 4W → W
    }

    let patchWeight: [Float]          // [width × 3·patch·patch]
    let classEmbedding: [Float]       // [width]
    let positionalEmbedding: [Float]  // [tokens × width]
    let lnPre: (gain: [Float], bias: [Float])
    let blocks: [Block]

    /// Reads the image tower from a TorchScript archive (the official `ViT-B-32.pt`) or a
    /// state dict with the same names (`visual.` prefix optional). `heads` defaults to
    /// width / 64, CLIP's rule.
    public convenience init(path: String, heads: Int? = nil) throws {
        try self.init(checkpoint: TorchCheckpoint(path: path), heads: heads)
    }

    public init(checkpoint ck: TorchCheckpoint, heads: Int? = nil) throws {
        let prefix = ck["visual.conv1.weight"] != nil ? "visual." : ""
        func t(_ name: String, _ shape: [Int]? = nil) throws -> [Float] { try ck.tensor(prefix + name, shape: shape).data }
        let conv = try ck.tensor(prefix + "conv1.weight")
        guard conv.shape.count == 4, conv.shape[1] == 3, conv.shape[2] == conv.shape[3], conv.shape[2] > 0 else {
            throw PickleError("\(ck.path): \(prefix)conv1.weight has shape \(conv.shape), expected [width, 3, patch, patch]")
        }
        width = conv.shape[0]
        patch = conv.shape[2]
        let positional = try ck.tensor(prefix + "positional_embedding")
        guard positional.shape.count == 2, positional.shape[1] == width else {
            throw PickleError("\(ck.path): positional_embedding has shape \(positional.shape), expected [tokens, \(width)]")
        }
        let g = Int(Double(positional.shape[0] - 1).squareRoot().rounded())
        guard g > 0, g * g + 1 == positional.shape[0] else {
            throw PickleError("\(ck.path): \(positional.shape[0]) positions is not a square grid plus a class token")
        }
        grid = g
        self.heads = heads ?? max(1, width / 64)
        guard self.heads > 0, width % self.heads == 0 else {
            throw PickleError("\(ck.path): width \(width) does not split into \(self.heads) heads")
        }
        var count = 0
        while ck["\(prefix)transformer.resblocks.\(count).ln_1.weight"] != nil { count += 1 }
        guard count > 0 else { throw PickleError("\(ck.path): no transformer.resblocks found (is this a CLIP image tower?)") }
        layers = count
        patchWeight = conv.data
        classEmbedding = try t("class_embedding", [width])
        positionalEmbedding = positional.data
        lnPre = (try t("ln_pre.weight", [width]), try t("ln_pre.bias", [width]))
        let w = width
        func linear(_ name: String, _ inputs: Int, _ outputs: Int, weight: String = "weight", bias: String = "bias") throws -> Linear {
            Linear(weight: try t("\(name).\(weight)", [outputs, inputs]), bias: try t("\(name).\(bias)", [outputs]),
                   inputs: inputs, outputs: outputs)
        }
        blocks = try (0..<count).map { i in
            let p = "transformer.resblocks.\(i)."
            return Block(ln1: (try t(p + "ln_1.weight", [w]), try t(p + "ln_1.bias", [w])),
                         inProjection: try linear(p + "attn", w, 3 * w, weight: "in_proj_weight", bias: "in_proj_bias"),
                         outProjection: try linear(p + "attn.out_proj", w, w),
                         ln2: (try t(p + "ln_2.weight", [w]), try t(p + "ln_2.bias", [w])),
                         fc: try linear(p + "mlp.c_fc", w, 4 * w),
                         projection: try linear(p + "mlp.c_proj", 4 * w, w))
        }
    }

    /// Random weights in the official layout (benchmarks and plumbing tests).
    public init(randomWidth width: Int, heads: Int, layers: Int, patch: Int, grid: Int, seed: UInt64) {
        self.width = width; self.heads = heads; self.layers = layers; self.patch = patch; self.grid = grid
        var rng = SeededRandom(seed)
        func normal(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }
        func linear(_ inputs: Int, _ outputs: Int) -> Linear {
            Linear(weight: normal(inputs * outputs, 1 / Float(inputs).squareRoot()), bias: normal(outputs, 0.02),
                   inputs: inputs, outputs: outputs)
        }
        let w = width
        patchWeight = normal(w * 3 * patch * patch, 1 / Float(3 * patch * patch).squareRoot())
        classEmbedding = normal(w, 1 / Float(w).squareRoot())
        positionalEmbedding = normal((grid * grid + 1) * w, 1 / Float(w).squareRoot())
        lnPre = ([Float](repeating: 1, count: w), [Float](repeating: 0, count: w))
        blocks = (0..<layers).map { _ in
            Block(ln1: ([Float](repeating: 1, count: w), [Float](repeating: 0, count: w)), inProjection: linear(w, 3 * w),
                  outProjection: linear(w, w), ln2: ([Float](repeating: 1, count: w), [Float](repeating: 0, count: w)),
                  fc: linear(w, 4 * w), projection: linear(4 * w, w))
        }
    }

    /// Multiply-adds ×2 of a forward pass through block `depth` for one image.
    public func flops(through depth: Int) -> Double {
        let t = Double(tokens), w = Double(width)
        let embed = 2 * Double(grid * grid) * w * Double(3 * patch * patch)
        let perBlock = 2 * t * w * (3 * w + w + 8 * w) + 2 * 2 * t * t * w
        return embed + Double(depth + 1) * perBlock
    }

    // MARK: Forward

    /// What backward needs from one block.
    struct BlockTrace: Sendable {
        var normalised1: [Float], rstd1: [Float]
        var qkv: [Float]
        var attention: [Float]     // [batch × heads × tokens × tokens], after softmax
        var normalised2: [Float], rstd2: [Float]
        var hidden: [Float]        // c_fc output, before QuickGELU
    }

    public struct Trace: Sendable {
        var batch: Int
        var preNormalised: [Float], preRstd: [Float]
        var blocks: [BlockTrace] = []
        /// Residual stream after each block computed: [batch × tokens × width].
        public var features: [[Float]] = []
        /// Head-averaged attention of each block computed, [batch × tokens × tokens], when
        /// asked for (`keepAttention`; the saliency needs it, the loss does not).
        public var attention: [[Float]] = []
    }

    /// Runs images (channel-major [3 × batch × H × W], H = W = `resolution`, normalised)
    /// through block `depth`. Keeps what backward needs when `keepTrace` is set.
    public func forward(_ input: FeatureMap, through depth: Int, keepTrace: Bool = true, keepAttention: Bool = false) -> Trace {
        precondition(input.channels == 3 && input.height == resolution && input.width == resolution,
                     "the CLIP tower takes 3 × \(resolution) × \(resolution) input, got \(input.channels) × \(input.height) × \(input.width)")
        precondition((0..<layers).contains(depth), "depth must be 0…\(layers - 1), got \(depth)")
        let b = input.batch, t = tokens, w = width, rows = b * t
        // Patch embedding: one GEMM of the patches [batch·grid² × 3·p·p] by the conv weight.
        let patches = gatherPatches(input)
        let pp = 3 * patch * patch, n = grid * grid
        var embedded = [Float](unspecified: b * n * w)
        multiply(patches, rows: b * n, inner: pp, weight: patchWeight, outputs: w, into: &embedded)
        // Class token, then the patches, each plus its position.
        var x = [Float](unspecified: rows * w)
        x.withUnsafeMutableBufferPointer { xb in embedded.withUnsafeBufferPointer { eb in
        classEmbedding.withUnsafeBufferPointer { cb in positionalEmbedding.withUnsafeBufferPointer { pb in
            let (xs, es) = (UncheckedSendable(xb.baseAddress!), UncheckedSendable(eb.baseAddress!))
            let (cs, ps) = (UncheckedSendable(cb.baseAddress!), UncheckedSendable(pb.baseAddress!))
            parallelFor(rows, minChunk: 16) { range in
                for r in range {
                    let img = r / t, tok = r % t
                    let src = tok == 0 ? cs.value : es.value + (img * n + tok - 1) * w
                    addRow(src, ps.value + tok * w, into: xs.value + r * w, count: w)
                }
            }
        } } } }
        let (pre, preRstd) = layerNorm(x, rows: rows, gain: lnPre.gain, bias: lnPre.bias, output: &x)
        var trace = Trace(batch: b, preNormalised: keepTrace ? pre : [], preRstd: keepTrace ? preRstd : [])
        for i in 0...depth {
            let blk = blocks[i]
            var h = [Float](unspecified: rows * w)
            let (n1, r1) = layerNorm(x, rows: rows, gain: blk.ln1.gain, bias: blk.ln1.bias, output: &h)
            var qkv = [Float](unspecified: rows * 3 * w)
            apply(blk.inProjection, h, rows: rows, into: &qkv)
            var attended = [Float](unspecified: rows * w)
            let probabilities = attend(qkv, batch: b, into: &attended)
            apply(blk.outProjection, attended, rows: rows, into: &x, accumulate: true)
            var h2 = [Float](unspecified: rows * w)
            let (n2, r2) = layerNorm(x, rows: rows, gain: blk.ln2.gain, bias: blk.ln2.bias, output: &h2)
            var hidden = [Float](unspecified: rows * 4 * w)
            apply(blk.fc, h2, rows: rows, into: &hidden)
            let activated = quickGELU(hidden)
            apply(blk.projection, activated, rows: rows, into: &x, accumulate: true)
            trace.features.append(x)
            if keepAttention { trace.attention.append(headAverage(probabilities, batch: b)) }
            if keepTrace {
                trace.blocks.append(BlockTrace(normalised1: n1, rstd1: r1, qkv: qkv, attention: probabilities,
                                               normalised2: n2, rstd2: r2, hidden: hidden))
            }
        }
        return trace
    }

    /// Calls `body(patchOffset, imageOffset)` for every run of `patch` values that a patch
    /// row [batch·grid² × (c, ky, kx)] shares with a channel-major image batch; runs of
    /// different (image, channel, grid row) go to different workers.
    func forEachPatchRun(batch b: Int, _ body: (Int, Int) -> Void) {
        let n = grid * grid, pp = 3 * patch * patch, side = resolution, g = grid, p = patch
        parallelFor(b * 3 * g) { jobs in
            for job in jobs {
                let img = job / (3 * g), c = (job / g) % 3, gy = job % g
                let plane = (c * b + img) * side * side
                for gx in 0..<g {
                    let row = (img * n + gy * g + gx) * pp + c * p * p
                    for ky in 0..<p { body(row + ky * p, plane + (gy * p + ky) * side + gx * p) }
                }
            }
        }
    }

    /// Patches of every image as rows [batch·grid² × (c, ky, kx)], the conv weight's order.
    func gatherPatches(_ input: FeatureMap) -> [Float] {
        var out = [Float](unspecified: input.batch * grid * grid * 3 * patch * patch)
        let p = patch
        out.withUnsafeMutableBufferPointer { ob in input.data.withUnsafeBufferPointer { ib in
            let (o, i) = (UncheckedSendable(ob.baseAddress!), UncheckedSendable(ib.baseAddress!))
            forEachPatchRun(batch: input.batch) { to, from in (o.value + to).update(from: i.value + from, count: p) }
        } }
        return out
    }

    /// out[rows × outputs] = x[rows × inner] · weightᵀ (+ out when `accumulate`).
    func multiply(_ x: [Float], rows: Int, inner: Int, weight: [Float], outputs: Int, into out: inout [Float],
                  accumulate: Bool = false) {
        x.withUnsafeBufferPointer { xp in weight.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
            sgemm(transB: true, m: rows, n: outputs, k: inner, a: xp.baseAddress!, lda: inner,
                  b: wp.baseAddress!, ldb: inner, beta: accumulate ? 1 : 0, c: op.baseAddress!, ldc: outputs)
        } } }
    }

    /// out = x · Wᵀ + b, or out += x · Wᵀ + b when `accumulate` (the residual branches add
    /// straight onto the stream). The bias rows go in first and the product is added onto
    /// them: no separate pass over the output, and no zeroing of it inside the product.
    func apply(_ l: Linear, _ x: [Float], rows: Int, into out: inout [Float], accumulate: Bool = false) {
        let o = l.outputs
        out.withUnsafeMutableBufferPointer { op in l.bias.withUnsafeBufferPointer { bp in
            let (outp, biasp) = (UncheckedSendable(op.baseAddress!), UncheckedSendable(bp.baseAddress!))
            parallelFor(rows, minChunk: 16) { range in
                for r in range {
                    let row = outp.value + r * o
                    if accumulate { addRow(row, biasp.value, into: row, count: o) } else { row.update(from: biasp.value, count: o) }
                }
            }
        } }
        multiply(x, rows: rows, inner: l.inputs, weight: l.weight, outputs: o, into: &out, accumulate: true)
    }

    /// dx[rows × inputs] = dy[rows × outputs] · W.
    func applyBackward(_ l: Linear, _ dy: [Float], rows: Int) -> [Float] {
        var dx = [Float](unspecified: rows * l.inputs)   // beta = 0: the product writes every value
        dy.withUnsafeBufferPointer { gp in l.weight.withUnsafeBufferPointer { wp in dx.withUnsafeMutableBufferPointer { dp in
            sgemm(m: rows, n: l.inputs, k: l.outputs, a: gp.baseAddress!, lda: l.outputs,
                  b: wp.baseAddress!, ldb: l.inputs, c: dp.baseAddress!, ldc: l.inputs)
        } } }
        return dx
    }

    func add(_ x: inout [Float], _ y: [Float]) {
        precondition(x.count == y.count, "adding \(y.count) values to \(x.count)")
        x.withUnsafeMutableBufferPointer { xb in y.withUnsafeBufferPointer { yb in
            guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
            mapVectors(Sum.self, xp, yp, into: xp, count: xb.count)
        } }
    }

    enum Sum: VectorKernel {
        @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
    }

    /// LayerNorm over each row of `x` into `output`; returns the normalised rows (before gain
    /// and bias) and each row's 1/σ, which backward needs. Rows in parallel, eight lanes at a
    /// time; mean and variance in two passes (the residual stream has large, offset values).
    func layerNorm(_ x: [Float], rows: Int, gain: [Float], bias: [Float], output: inout [Float]) -> ([Float], [Float]) {
        let w = width
        var normalised = [Float](unspecified: rows * w)
        var rstd = [Float](unspecified: rows)
        x.withUnsafeBufferPointer { xb in gain.withUnsafeBufferPointer { gb in bias.withUnsafeBufferPointer { bb in
        normalised.withUnsafeMutableBufferPointer { nb in rstd.withUnsafeMutableBufferPointer { rb in
        output.withUnsafeMutableBufferPointer { ob in
            let (xs, gs, bs) = (UncheckedSendable(xb.baseAddress!), UncheckedSendable(gb.baseAddress!), UncheckedSendable(bb.baseAddress!))
            let (ns, rs, os) = (UncheckedSendable(nb.baseAddress!), UncheckedSendable(rb.baseAddress!), UncheckedSendable(ob.baseAddress!))
            parallelFor(rows, minChunk: 8) { range in
                for r in range {
                    let row = xs.value + r * w
                    var sum = SIMD8<Float>()
                    var c = 0
                    while c < w { let n = min(8, w - c); sum += loadPartial(row + c, n); c += 8 }
                    let mean = sum.sum() / Float(w)
                    var squares = SIMD8<Float>()
                    c = 0
                    while c < w {
                        let n = min(8, w - c)
                        let d = zeroingLanes(loadPartial(row + c, n) - mean, from: n)
                        squares += d * d
                        c += 8
                    }
                    let inv = 1 / (squares.sum() / Float(w) + Self.layerNormEpsilon).squareRoot()
                    rs.value[r] = inv
                    let nrow = ns.value + r * w, orow = os.value + r * w
                    c = 0
                    while c < w {
                        let n = min(8, w - c)
                        let v = (loadPartial(row + c, n) - mean) * inv
                        storePartial(v, nrow + c, n)
                        storePartial(v * loadPartial(gs.value + c, n) + loadPartial(bs.value + c, n), orow + c, n)
                        c += 8
                    }
                }
            }
        } } } } } }
        return (normalised, rstd)
    }

    /// ∂L/∂x of a LayerNorm given ∂L/∂output, the normalised rows and 1/σ.
    func layerNormBackward(_ dy: [Float], normalised: [Float], rstd: [Float], gain: [Float], rows: Int) -> [Float] {
        let w = width
        var dx = [Float](unspecified: rows * w)
        dy.withUnsafeBufferPointer { yb in normalised.withUnsafeBufferPointer { nb in rstd.withUnsafeBufferPointer { rb in
        gain.withUnsafeBufferPointer { gb in dx.withUnsafeMutableBufferPointer { db in
            let (ys, ns, rs) = (UncheckedSendable(yb.baseAddress!), UncheckedSendable(nb.baseAddress!), UncheckedSendable(rb.baseAddress!))
            let (gs, ds) = (UncheckedSendable(gb.baseAddress!), UncheckedSendable(db.baseAddress!))
            parallelFor(rows, minChunk: 8) { range in
                for r in range {
                    let dyRow = ys.value + r * w, nRow = ns.value + r * w, dxRow = ds.value + r * w
                    var sumG = SIMD8<Float>(), sumGN = SIMD8<Float>()
                    var c = 0
                    while c < w {
                        let n = min(8, w - c)
                        let g = loadPartial(dyRow + c, n) * loadPartial(gs.value + c, n)
                        sumG += g
                        sumGN += g * loadPartial(nRow + c, n)
                        c += 8
                    }
                    let meanG = sumG.sum() / Float(w), meanGN = sumGN.sum() / Float(w)
                    let inv = rs.value[r]
                    c = 0
                    while c < w {
                        let n = min(8, w - c)
                        let g = loadPartial(dyRow + c, n) * loadPartial(gs.value + c, n)
                        storePartial(inv * (g - meanG - loadPartial(nRow + c, n) * meanGN), dxRow + c, n)
                        c += 8
                    }
                }
            }
        } } } } }
        return dx
    }

    static let geluScale: Float = 1.702

    /// x·σ(1.702x), into a new array (the input is kept for the backward).
    func quickGELU(_ x: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { yb, initialised in
            x.withUnsafeBufferPointer { xb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                mapVectors(QuickGELU.self, xp, xp, into: yp, count: xb.count)
            }
            initialised = x.count
        }
    }

    /// dHidden ⊙ QuickGELU′(u): σ(1.702u) + 1.702·u·σ(1.702u)(1 − σ(1.702u)).
    func quickGELUBackward(_ g: inout [Float], input u: [Float]) {
        g.withUnsafeMutableBufferPointer { gb in u.withUnsafeBufferPointer { ub in
            guard let gp = gb.baseAddress, let up = ub.baseAddress else { return }
            mapVectors(QuickGELUGradient.self, gp, up, into: gp, count: gb.count)
        } }
    }

    enum QuickGELU: VectorKernel {
        @inline(__always) static func apply(_ x: SIMD8<Float>, _ unused: SIMD8<Float>) -> SIMD8<Float> {
            x * vectorSigmoid(geluScale * x)
        }
    }

    /// (∂L/∂output, input) → ∂L/∂input.
    enum QuickGELUGradient: VectorKernel {
        @inline(__always) static func apply(_ g: SIMD8<Float>, _ u: SIMD8<Float>) -> SIMD8<Float> {
            let s = vectorSigmoid(geluScale * u)
            return g * (s + geluScale * u * s * (1 - s))
        }
    }

    /// Multi-head self-attention of the packed q, k, v rows; writes the heads' outputs side by
    /// side into `out` and returns the softmax probabilities [batch × heads × tokens × tokens].
    func attend(_ qkv: [Float], batch b: Int, into out: inout [Float]) -> [Float] {
        let t = tokens, w = width, d = w / heads
        let scale = 1 / Float(d).squareRoot()
        var probabilities = [Float](unspecified: b * heads * t * t)
        qkv.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in probabilities.withUnsafeMutableBufferPointer { pp in
            let (q, o, p) = (UncheckedSendable(qp.baseAddress!), UncheckedSendable(op.baseAddress!), UncheckedSendable(pp.baseAddress!))
            parallelFor(b * heads) { range in
                for job in range {
                    let img = job / heads, head = job % heads
                    let base = q.value + img * t * 3 * w + head * d
                    let a = p.value + job * t * t
                    // S = Q·Kᵀ / √d (rows of Q and K are 3w apart in the packed matrix).
                    sgemm(transB: true, m: t, n: t, k: d, alpha: scale, a: base, lda: 3 * w, b: base + w, ldb: 3 * w,
                          c: a, ldc: t)
                    for r in 0..<t {
                        let row = a + r * t
                        var m = -Float.infinity
                        for j in 0..<t { m = max(m, row[j]) }
                        var sum = SIMD8<Float>()
                        var j = 0
                        while j < t {
                            let n = min(8, t - j)
                            let e = zeroingLanes(vectorExp(loadPartial(row + j, n) - m), from: n)
                            storePartial(e, row + j, n)
                            sum += e
                            j += 8
                        }
                        let inv = 1 / sum.sum()
                        for j in 0..<t { row[j] *= inv }
                    }
                    // O = A·V into this head's columns.
                    sgemm(m: t, n: d, k: t, a: a, lda: t, b: base + 2 * w, ldb: 3 * w,
                          c: o.value + img * t * w + head * d, ldc: w)
                }
            }
        } } }
        return probabilities
    }

    func headAverage(_ probabilities: [Float], batch b: Int) -> [Float] {
        let t = tokens, tt = t * t
        var out = [Float](repeating: 0, count: b * tt)
        for img in 0..<b {
            for h in 0..<heads {
                let src = (img * heads + h) * tt
                for i in 0..<tt { out[img * tt + i] += probabilities[src + i] }
            }
            for i in 0..<tt { out[img * tt + i] /= Float(heads) }
        }
        return out
    }

    // MARK: Backward

    /// ∂L/∂input (channel-major like the input) given ∂L/∂features at one or more blocks,
    /// each [batch × tokens × width].
    public func backward(_ trace: Trace, gradients: [Int: [Float]]) -> FeatureMap {
        let b = trace.batch, t = tokens, w = width, rows = b * t, side = resolution
        guard let deepest = gradients.keys.max() else { return FeatureMap(zeros: 3, batch: b, height: side, width: side) }
        precondition(deepest < trace.blocks.count, "gradient at block \(deepest) but the trace stops at \(trace.blocks.count - 1)")
        var dx = [Float](repeating: 0, count: rows * w)
        for i in stride(from: deepest, through: 0, by: -1) {
            if let g = gradients[i] {
                precondition(g.count == rows * w, "gradient at block \(i) has \(g.count) values, expected \(rows * w)")
                add(&dx, g)
            }
            let blk = blocks[i], bt = trace.blocks[i]
            // MLP branch: x += c_proj(gelu(c_fc(ln_2(x)))).
            var dHidden = applyBackward(blk.projection, dx, rows: rows)
            quickGELUBackward(&dHidden, input: bt.hidden)
            let dH2 = applyBackward(blk.fc, dHidden, rows: rows)
            add(&dx, layerNormBackward(dH2, normalised: bt.normalised2, rstd: bt.rstd2, gain: blk.ln2.gain, rows: rows))
            // Attention branch: x += out_proj(attention(in_proj(ln_1(x)))).
            let dAttended = applyBackward(blk.outProjection, dx, rows: rows)
            let dQKV = attendBackward(dAttended, trace: bt, batch: b)
            let dH = applyBackward(blk.inProjection, dQKV, rows: rows)
            add(&dx, layerNormBackward(dH, normalised: bt.normalised1, rstd: bt.rstd1, gain: blk.ln1.gain, rows: rows))
        }
        // ln_pre, then the patch embedding (class token and positions carry no input gradient).
        let dEmbedded = layerNormBackward(dx, normalised: trace.preNormalised, rstd: trace.preRstd, gain: lnPre.gain, rows: rows)
        let n = grid * grid, pp = 3 * patch * patch
        var dPatchOut = [Float](unspecified: b * n * w)   // the patch tokens' rows
        dPatchOut.withUnsafeMutableBufferPointer { ob in dEmbedded.withUnsafeBufferPointer { eb in
            for img in 0..<b {
                (ob.baseAddress! + img * n * w).update(from: eb.baseAddress! + (img * t + 1) * w, count: n * w)
            }
        } }
        var dPatches = [Float](unspecified: b * n * pp)
        dPatchOut.withUnsafeBufferPointer { gp in patchWeight.withUnsafeBufferPointer { wp in dPatches.withUnsafeMutableBufferPointer { dp in
            sgemm(m: b * n, n: pp, k: w, a: gp.baseAddress!, lda: w, b: wp.baseAddress!, ldb: pp, c: dp.baseAddress!, ldc: pp)
        } } }
        var dInput = FeatureMap(uninitialized: 3, batch: b, height: side, width: side)   // the patches tile it
        let p = patch
        dInput.data.withUnsafeMutableBufferPointer { db in dPatches.withUnsafeBufferPointer { pb in
            let (d, g) = (UncheckedSendable(db.baseAddress!), UncheckedSendable(pb.baseAddress!))
            forEachPatchRun(batch: b) { from, to in (d.value + to).update(from: g.value + from, count: p) }
        } }
        return dInput
    }

    /// ∂L/∂(packed q, k, v) given ∂L/∂(attention output).
    func attendBackward(_ dOut: [Float], trace bt: BlockTrace, batch b: Int) -> [Float] {
        let t = tokens, w = width, d = w / heads
        let scale = 1 / Float(d).squareRoot()
        var dQKV = [Float](unspecified: b * t * 3 * w)   // every head writes its q, k and v columns
        dOut.withUnsafeBufferPointer { gp in bt.qkv.withUnsafeBufferPointer { qp in bt.attention.withUnsafeBufferPointer { ap in
            dQKV.withUnsafeMutableBufferPointer { dp in
                let (g, q, a, dq) = (UncheckedSendable(gp.baseAddress!), UncheckedSendable(qp.baseAddress!),
                                     UncheckedSendable(ap.baseAddress!), UncheckedSendable(dp.baseAddress!))
                parallelFor(b * heads) { range in
                    var dA = [Float](unspecified: t * t)
                    for job in range {
                        let img = job / heads, head = job % heads
                        let base = q.value + img * t * 3 * w + head * d
                        let dbase = dq.value + img * t * 3 * w + head * d
                        let probs = a.value + job * t * t
                        let dO = g.value + img * t * w + head * d
                        dA.withUnsafeMutableBufferPointer { dAp in
                            let dAb = dAp.baseAddress!
                            // dV = Aᵀ·dO;  dA = dO·Vᵀ.
                            sgemm(transA: true, m: t, n: d, k: t, a: probs, lda: t, b: dO, ldb: w, c: dbase + 2 * w, ldc: 3 * w)
                            sgemm(transB: true, m: t, n: t, k: d, a: dO, lda: w, b: base + 2 * w, ldb: 3 * w, c: dAb, ldc: t)
                            // Through the softmax: dS = A ⊙ (dA − Σ_j dA·A), then the 1/√d scale.
                            for r in 0..<t {
                                var dot: Float = 0
                                for j in 0..<t { dot += dAb[r * t + j] * probs[r * t + j] }
                                for j in 0..<t { dAb[r * t + j] = probs[r * t + j] * (dAb[r * t + j] - dot) * scale }
                            }
                            // dQ = dS·K;  dK = dSᵀ·Q.
                            sgemm(m: t, n: d, k: t, a: dAb, lda: t, b: base + w, ldb: 3 * w, c: dbase, ldc: 3 * w)
                            sgemm(transA: true, m: t, n: d, k: t, a: dAb, lda: t, b: base, ldb: 3 * w, c: dbase + w, ldc: 3 * w)
                        }
                    }
                }
            }
        } } }
        return dQKV
    }

    // MARK: Saliency

    /// CLIPascene's initialisation saliency (docs/algorithm.md §3) for one normalised image: the class
    /// token's attention to the patches, averaged over heads and every block, as a
    /// grid × grid map (upsampling and min-max are the caller's, as for any encoder).
    public func attentionSaliency(_ input: FeatureMap) -> (map: [Float], side: Int) {
        precondition(input.batch == 1, "saliency takes one image")
        let trace = forward(input, through: layers - 1, keepTrace: false, keepAttention: true)
        let t = tokens
        var map = [Float](repeating: 0, count: grid * grid)
        for a in trace.attention {
            for j in 1..<t { map[j - 1] += max(0, a[j]) / Float(layers) }
        }
        return (map, grid)
    }
}
