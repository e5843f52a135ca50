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

extension GrayImage {
    /// Connected regions of set pixels (≥ 0.5), 8-connected as skimage's `label` on 2-D
    /// images: a label per pixel (0 = unset, regions numbered from 1) and each region's size.
    public func connectedComponents() -> (labels: [Int32], sizes: [Int]) {
        var labels = [Int32](repeating: 0, count: pixels.count)
        var sizes: [Int] = []
        var stack: [Int] = []
        for start in pixels.indices where pixels[start] >= 0.5 && labels[start] == 0 {
            sizes.append(0)
            let label = Int32(sizes.count)
            labels[start] = label
            stack.append(start)
            while let i = stack.popLast() {
                sizes[sizes.count - 1] += 1
                let x = i % width, y = i / width
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let nx = x + dx, ny = y + dy
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let j = ny * width + nx
                        if pixels[j] >= 0.5 && labels[j] == 0 {
                            labels[j] = label
                            stack.append(j)
                        }
                    }
                }
            }
        }
        return (labels, sizes)
    }
}

extension RGBImage {
    /// The pixels of the rectangle at (x, y) of size w × h (which must lie inside the image).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height, "crop outside the image")
        var out = RGBImage(width: w, height: h)
        for c in 0..<3 {
            for row in 0..<h {
                for col in 0..<w { out.pixels[(c * h + row) * w + col] = pixels[(c * height + y + row) * width + x + col] }
            }
        }
        return out
    }
}
