import Imaging
import Tensors

/// Saliency maps for stroke initialisation.
public enum Saliency {
    /// An encoder's saliency of an RGB image in [0,1], at the image's size: the image is
    /// viewed square (224², or the side the encoder requires) with the encoder's
    /// normalisation; the coarse map is upsampled bicubically and min-max normalised.
    public static func map(_ image: RGBImage, encoder: any PerceptualEncoder) -> GrayImage {
        let viewSide = encoder.requiredSide ?? 224
        let small = image.resized(width: viewSide, height: viewSide).clamped()
        let input = encoder.normalisation.normalise(small)
        let (cam, side) = encoder.saliencyGrid(input)
        let coarse = GrayImage(width: side, height: side, pixels: cam)
        return coarse.resized(width: image.width, height: image.height, filter: .bicubic).minMaxNormalised()
    }
}

/// Per-channel input normalisation of an encoder: x' = (x − mean) / std on [0,1] RGB.
public struct EncoderInput: Sendable {
    public let mean: [Float]
    public let std: [Float]

    public static let imageNet = EncoderInput(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    public static let clip = EncoderInput(mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711])

    /// One image as a batch-of-one feature map.
    public func normalise(_ image: RGBImage) -> FeatureMap {
        var data = image.pixels
        let plane = image.planeSize
        for c in 0..<3 { for i in 0..<plane { data[c * plane + i] = (data[c * plane + i] - mean[c]) / std[c] } }
        return FeatureMap(channels: 3, batch: 1, height: image.height, width: image.width, data: data)
    }
}
