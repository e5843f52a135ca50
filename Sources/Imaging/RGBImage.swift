import Tensors

/// A colour image with float samples in [0, 1], stored planar (R plane, G plane, B plane),
/// which is the layout the networks consume.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 3 × height × width values, planar.
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && pixels.count == 3 * width * height,
                     "RGBImage \(width)×\(height) needs \(3 * width * height) samples, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniform image.
    public init(width: Int, height: Int, fill: (r: Float, g: Float, b: Float) = (1, 1, 1)) {
        var pixels = [Float](repeating: 0, count: 3 * width * height)
        let plane = width * height
        for i in 0..<plane {
            pixels[i] = fill.r
            pixels[plane + i] = fill.g
            pixels[2 * plane + i] = fill.b
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    public var planeSize: Int { width * height }

    /// The sample of channel `c` at column `x`, row `y`.
    @inline(__always)
    public subscript(c: Int, x: Int, y: Int) -> Float {
        get { pixels[c * planeSize + y * width + x] }
        set { pixels[c * planeSize + y * width + x] = newValue }
    }

    /// As a [3, height, width] tensor.
    public var tensor: Tensor { Tensor(shape: [3, height, width], data: pixels) }

    /// From a [3, H, W] tensor.
    public init(tensor: Tensor) {
        precondition(tensor.rank == 3 && tensor.shape[0] == 3, "RGBImage needs a [3,H,W] tensor, got \(tensor.shape)")
        self.init(width: tensor.shape[2], height: tensor.shape[1], pixels: tensor.data)
    }

    /// Interleaved 8-bit RGB, rounded and clamped.
    public func rgb8() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 3 * planeSize)
        let plane = planeSize
        for i in 0..<plane {
            for c in 0..<3 {
                let v = pixels[c * plane + i]
                out[3 * i + c] = UInt8(max(0, min(255, (v * 255).rounded())))
            }
        }
        return out
    }

    /// From interleaved 8-bit samples with `channels` per pixel (3: RGB, 4: RGBA
    /// composited over `matte`, 1: gray, 2: gray + alpha over `matte`). The matte is the gray
    /// a transparent pixel shows: white (1) for photos, black (0) for masks.
    public init(interleaved bytes: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int, matte: Float = 1) {
        let plane = width * height
        var pixels = [Float](repeating: 0, count: 3 * plane)
        let scale: Float = 1 / 255
        for i in 0..<plane {
            let base = i * channels
            var rgb: (Float, Float, Float)
            var alpha: Float = 1
            switch channels {
            case 1, 2:
                let g = Float(bytes[base]) * scale
                rgb = (g, g, g)
                if channels == 2 { alpha = Float(bytes[base + 1]) * scale }
            default:
                rgb = (Float(bytes[base]) * scale, Float(bytes[base + 1]) * scale, Float(bytes[base + 2]) * scale)
                if channels == 4 { alpha = Float(bytes[base + 3]) * scale }
            }
            // Transparent pixels show the matte underneath.
            let under = (1 - alpha) * matte
            pixels[i] = rgb.0 * alpha + under
            pixels[plane + i] = rgb.1 * alpha + under
            pixels[2 * plane + i] = rgb.2 * alpha + under
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// A single-channel float image (masks, saliency maps, edge maps), row-major.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GrayImage \(width)×\(height) needs \(width * height) samples, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, value: Float = 0) {
        self.init(width: width, height: height, pixels: [Float](repeating: value, count: width * height))
    }

    @inline(__always)
    public subscript(x: Int, y: Int) -> Float {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// The same values as an RGB image (gray in all three channels).
    public var rgb: RGBImage {
        RGBImage(width: width, height: height, pixels: pixels + pixels + pixels)
    }
}
