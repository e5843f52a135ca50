import Models
import Tensors

/// How a canvas meets an encoder that requires a square input (CLIP): centred, the margin
/// white like the canvas in the encoder's normalisation. Encoders that take any size see
/// the canvas as it is.
struct EncoderFraming: Sendable {
    let canvasWidth: Int, canvasHeight: Int
    /// The square side the encoder requires, or nil.
    let side: Int?
    let normalisation: EncoderInput

    init(canvasWidth: Int, canvasHeight: Int, encoder: any PerceptualEncoder) {
        self.canvasWidth = canvasWidth
        self.canvasHeight = canvasHeight
        side = encoder.requiredSide
        normalisation = encoder.normalisation
    }

    /// A batch of normalised canvases in the encoder's input.
    func frame(_ x: FeatureMap) -> FeatureMap {
        guard let side, x.height != side || x.width != side else { return x }
        let top = (side - x.height) / 2, left = (side - x.width) / 2
        var out = FeatureMap(zeros: 3, batch: x.batch, height: side, width: side)
        for c in 0..<3 {
            let white = (1 - normalisation.mean[c]) / normalisation.std[c]
            for n in 0..<x.batch {
                let dst = (c * x.batch + n) * side * side, src = (c * x.batch + n) * x.plane
                for i in 0..<(side * side) { out.data[dst + i] = white }
                for y in 0..<x.height {
                    for xx in 0..<x.width { out.data[dst + (y + top) * side + left + xx] = x.data[src + y * x.width + xx] }
                }
            }
        }
        return out
    }

    /// Backward of `frame`: the canvas part of a gradient with respect to the framed input.
    func unframe(_ g: FeatureMap) -> FeatureMap {
        let width = canvasWidth, height = canvasHeight
        guard g.height != height || g.width != width else { return g }
        let top = (g.height - height) / 2, left = (g.width - width) / 2
        var out = FeatureMap(zeros: 3, batch: g.batch, height: height, width: width)
        for p in 0..<(3 * g.batch) {
            for y in 0..<height {
                for x in 0..<width { out.data[(p * height + y) * width + x] = g.data[(p * g.height + y + top) * g.width + left + x] }
            }
        }
        return out
    }
}
