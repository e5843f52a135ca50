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
            dilateLine(count: width, radius: r, read: { self[$0, y] }, write: { rows[$0, y] = 1 })
        }
        var out = GrayImage(width: width, height: height)
        for x in 0..<width {
            dilateLine(count: height, radius: r, read: { rows[x, $0] }, write: { out[x, $0] = 1 })
        }
        return out
    }

    /// Fraction of pixels that are set (≥ 0.5).
    public var coverage: Float {
        guard !pixels.isEmpty else { return 0 }
        return Float(pixels.filter { $0 >= 0.5 }.count) / Float(pixels.count)
    }
}

/// Marks every position within `radius` of a set one along a line, by tracking the distance
/// to the nearest set position on each side in two sweeps.
private func dilateLine(count: Int, radius r: Int, read: (Int) -> Float, write: (Int) -> Void) {
    var last = -Int.max / 2
    for i in 0..<count {
        if read(i) >= 0.5 { last = i }
        if i - last <= r { write(i) }
    }
    last = Int.max / 2
    for i in stride(from: count - 1, through: 0, by: -1) {
        if read(i) >= 0.5 { last = i }
        if last - i <= r { write(i) }
    }
}
