import Imaging

extension Raster {
    /// The rendering as a gray image (1 = paper).
    public var grayImage: GrayImage { GrayImage(width: width, height: height, pixels: image) }
}

extension SVGDocument {
    /// Rasterises every stroke at `scale` × the document size (clip paths are not applied;
    /// callers that clip render the parts themselves).
    public func render(scale: Double = 1) -> Raster {
        let s = Float(scale)
        let w = max(1, Int((width * scale).rounded())), h = max(1, Int((height * scale).rounded()))
        return Raster.render(strokes.map { $0.scaled(by: s) }, width: w, height: h)
    }

    /// Writes a PNG of the drawing at `scale` × its size.
    public func writePNG(to path: String, scale: Double = 1) throws {
        try ImageFile.writePNG(render(scale: scale).grayImage, to: path)
    }
}
