/// Shrinking interleaved 8-bit pixels by an integer factor while they are still bytes, so a
/// huge photo never exists as a full-size float image (49 megapixels would be 588 MB).
enum BoxReduce {
    /// The whole factor that brings `width × height` to at most `maxSide` on its long side (1: none).
    static func factor(width: Int, height: Int, maxSide: Int?) -> Int {
        guard let maxSide, maxSide > 0 else { return 1 }
        let long = max(width, height)
        return long <= maxSide ? 1 : (long + maxSide - 1) / maxSide
    }

    /// Averages `factor × factor` blocks (the last row and column of blocks may be partial).
    /// With an alpha channel (2 or 4 channels) colours are averaged premultiplied, so
    /// compositing the result on white equals averaging the composited pixels.
    static func reduce(_ bytes: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                       factor: Int) -> (bytes: [UInt8], width: Int, height: Int) {
        let w = (width + factor - 1) / factor, h = (height + factor - 1) / factor
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let hasAlpha = channels == 2 || channels == 4
        let colours = hasAlpha ? channels - 1 : channels
        var sums = [Float](repeating: 0, count: channels * w)
        for oy in 0..<h {
            for i in sums.indices { sums[i] = 0 }
            let y0 = oy * factor, y1 = min(height, y0 + factor)
            for y in y0..<y1 {
                let row = y * width * channels
                for x in 0..<width {
                    let p = row + x * channels, s = (x / factor) * channels
                    let alpha: Float = hasAlpha ? Float(bytes[p + colours]) : 255
                    for c in 0..<colours { sums[s + c] += Float(bytes[p + c]) * alpha }
                    if hasAlpha { sums[s + colours] += alpha }
                }
            }
            for ox in 0..<w {
                let x0 = ox * factor, x1 = min(width, x0 + factor)
                let count = Float((x1 - x0) * (y1 - y0))
                let s = ox * channels, o = (oy * w + ox) * channels
                let weight = hasAlpha ? sums[s + colours] : 255 * count
                for c in 0..<colours {
                    let v = weight > 0 ? sums[s + c] / weight : 0
                    out[o + c] = UInt8(max(0, min(255, v.rounded())))
                }
                if hasAlpha { out[o + colours] = UInt8(max(0, min(255, (sums[s + colours] / count).rounded()))) }
            }
        }
        return (out, w, h)
    }
}
