import Foundation
import Imaging
import Tensors

/// Finds the subject of a photo with U²-Net (or U²-Net-p) from its ONNX file, following the
/// reference pipeline: resize to 320×320, divide by the image maximum, ImageNet mean/std,
/// take the fused output d0, min-max normalise, resize back (bilinear), threshold at 0.5.
public final class SubjectMasker: @unchecked Sendable {
    let model: ONNXModel
    public static let inputSize = 320

    public init(path: String) throws {
        model = try ONNXModel(path: path)
    }

    /// The fused saliency d0 at the image's own size, min-max normalised to [0, 1].
    public func saliency(_ image: RGBImage) throws -> GrayImage {
        var flops = 0.0
        return try saliency(image, convolutionFlops: &flops)
    }

    /// As `saliency`, adding the network's convolution FLOPs to `convolutionFlops` (for benchmarks).
    public func saliency(_ image: RGBImage, convolutionFlops: inout Double) throws -> GrayImage {
        let n = Self.inputSize
        let small = image.resized(width: n, height: n, filter: .bilinear).clamped()
        let peak = max(small.pixels.max() ?? 1, 1e-6)
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        var input = small.pixels
        for c in 0..<3 {
            for i in 0..<(n * n) { input[c * n * n + i] = (input[c * n * n + i] / peak - mean[c]) / std[c] }
        }
        let outputs = try model.run(.float(shape: [1, 3, n, n], data: input), convolutionFlops: &convolutionFlops)
        guard case .float(let shape, let d0)? = outputs.first, shape.suffix(2) == [n, n] else {
            throw ONNXError("\(model.path): the first output is not a \(n)×\(n) map")
        }
        let map = GrayImage(width: n, height: n, pixels: Array(d0.prefix(n * n))).minMaxNormalised()
        return map.resized(width: image.width, height: image.height, filter: .bilinear)
    }

    /// The binary subject mask (1 = subject), optionally dilated by `dilation` pixels.
    public func mask(_ image: RGBImage, threshold: Float = 0.5, dilation: Int = 0) throws -> GrayImage {
        try saliency(image).thresholded(threshold).dilated(radius: dilation)
    }
}
