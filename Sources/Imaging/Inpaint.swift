/// Classical inpainting by "push-pull": the known pixels are averaged down a pyramid until
/// every cell has a value, then the coarse levels fill the holes of the finer ones on the
/// way back up. Smooth, fast, and plausible as a loose target for background strokes.
extension RGBImage {
    /// Fills the pixels where `hole` ≥ 0.5 from their surroundings.
    public func inpainted(hole: GrayImage) -> RGBImage {
        precondition(hole.width == width && hole.height == height, "hole mask size differs from the image")
        let known = hole.pixels.map { $0 >= 0.5 ? Float(0) : 1 }
        guard known.contains(1) else { return self }
        return pushPull(pixels, known, width, height)
    }
}

private func pushPull(_ img: [Float], _ weight: [Float], _ w: Int, _ h: Int) -> RGBImage {
    let plane = w * h
    if w <= 1 && h <= 1 || !weight.contains(0) {
        return RGBImage(width: w, height: h, pixels: img)
    }
    // Push: 2×2 weighted average (with a tent over a 4×4 window for smoothness).
    let cw = (w + 1) / 2, ch = (h + 1) / 2, cplane = cw * ch
    var coarse = [Float](repeating: 0, count: 3 * cplane), cweight = [Float](repeating: 0, count: cplane)
    for y in 0..<ch {
        for x in 0..<cw {
            var acc = SIMD3<Float>(repeating: 0), wsum: Float = 0
            for dy in -1...2 {
                for dx in -1...2 {
                    let sx = 2 * x + dx, sy = 2 * y + dy
                    guard sx >= 0, sx < w, sy >= 0, sy < h else { continue }
                    let k = (dx == -1 || dx == 2 ? 1 : 3) * (dy == -1 || dy == 2 ? 1 : 3)
                    let wt = weight[sy * w + sx] * Float(k)
                    if wt == 0 { continue }
                    let i = sy * w + sx
                    acc += wt * SIMD3(img[i], img[plane + i], img[2 * plane + i])
                    wsum += wt
                }
            }
            let j = y * cw + x
            if wsum > 0 {
                coarse[j] = acc.x / wsum; coarse[cplane + j] = acc.y / wsum; coarse[2 * cplane + j] = acc.z / wsum
                cweight[j] = min(1, wsum / 4)
            }
        }
    }
    let filled = pushPull(coarse, cweight.map { $0 > 0 ? 1 : 0 }, cw, ch)
    // Pull: blend the upsampled coarse level into pixels in proportion to what they lack.
    let up = filled.resized(width: w, height: h, filter: .bilinear)
    var out = img
    for i in 0..<plane {
        let a = weight[i]
        for c in 0..<3 { out[c * plane + i] = a * img[c * plane + i] + (1 - a) * up.pixels[c * plane + i] }
    }
    return RGBImage(width: w, height: h, pixels: out)
}
