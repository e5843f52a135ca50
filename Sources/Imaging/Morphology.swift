/// Binary morphology and thresholding on gray images (values ≥ 0.5 count as set).
extension GrayImage {
    /// 1 where the value is ≥ `threshold`, else 0.
    public func thresholded(_ threshold: Float = 0.5) -> GrayImage {
        GrayImage(width: width, height: height, pixels: pixels.map { $0 >= threshold ? 1 : 0 })
    }

    /// Values stretched to [0, 1] (a constant image becomes all zeros).
    public func minMaxNormalised() -> GrayImage {
        guard let lo = pixels.min(), let hi = pixels.max(), hi > lo else {
            return GrayImage(width: width, height: height, value: 0)
        }
        let scale = 1 / (hi - lo)
        return GrayImage(width: width, height: height, pixels: pixels.map { ($0 - lo) * scale })
    }

    /// Binary dilation by a (2r+1)×(2r+1) square, done as two 1-D passes.
    public func dilated(radius r: Int) -> GrayImage {
        guard r > 0 else { return self }
        var rows = GrayImage(width: width, height: height)
        for y in 0..<height {
            // Distance to the last set pixel on the left and on the right, in one sweep each.
            var last = -Int.max / 2
            for x in 0..<width {
                if self[x, y] >= 0.5 { last = x }
                if x - last <= r { rows[x, y] = 1 }
            }
            last = Int.max / 2
            for x in stride(from: width - 1, through: 0, by: -1) {
                if self[x, y] >= 0.5 { last = x }
                if last - x <= r { rows[x, y] = 1 }
            }
        }
        var out = GrayImage(width: width, height: height)
        for x in 0..<width {
            var last = -Int.max / 2
            for y in 0..<height {
                if rows[x, y] >= 0.5 { last = y }
                if y - last <= r { out[x, y] = 1 }
            }
            last = Int.max / 2
            for y in stride(from: height - 1, through: 0, by: -1) {
                if rows[x, y] >= 0.5 { last = y }
                if last - y <= r { out[x, y] = 1 }
            }
        }
        return out
    }

    /// Fraction of pixels that are set (≥ 0.5).
    public var coverage: Float {
        guard !pixels.isEmpty else { return 0 }
        return Float(pixels.filter { $0 >= 0.5 }.count) / Float(pixels.count)
    }
}
