import Foundation

/// Lifts the tones of a dark photo so its structure shows the way it would on paper: a night
/// scene's towers and masts are dark lines on a sky that is almost as dark, and a sketch (black
/// ink on white) can only imitate them once the sky is light. A gamma curve moves the median
/// luminance of a photo darker than `darkMedian` up to `liftedMedian`; other photos are
/// unchanged (docs/quality.md).
public struct ToneBalance: Sendable, Equatable {
    /// Photos whose median luminance is below this are lifted.
    public var darkMedian: Float
    /// Where a lifted photo's median goes.
    public var liftedMedian: Float

    public init(darkMedian: Float = 0.35, liftedMedian: Float = 0.5) {
        self.darkMedian = darkMedian
        self.liftedMedian = liftedMedian
    }

    /// The exponent applied to every sample: 1 for a photo that is not dark, else the γ < 1
    /// with median^γ = liftedMedian.
    public func gamma(for image: RGBImage) -> Float {
        let luminance = image.gray.pixels.sorted()
        guard !luminance.isEmpty else { return 1 }
        let median = max(luminance[luminance.count / 2], 1e-3)
        guard median < darkMedian else { return 1 }
        return Foundation.log(liftedMedian) / Foundation.log(median)
    }

    /// `image` with every sample raised to `gamma(for:)`.
    public func apply(_ image: RGBImage) -> RGBImage {
        let g = gamma(for: image)
        guard g != 1 else { return image }
        return RGBImage(width: image.width, height: image.height, pixels: image.pixels.map { Foundation.pow(max(0, $0), g) })
    }
}
