import CPNG
import Foundation

/// PNG through libpng's simplified API, which reports errors by return value
/// (no setjmp/longjmp, which Swift cannot use).
enum PNGCodec {
    private static let flagAlpha: UInt32 = 0x01
    private static let flagColor: UInt32 = 0x02
    private static let flagLinear: UInt32 = 0x04
    private static let flagColormap: UInt32 = 0x08

    private static func newImage() -> png_image {
        var image = png_image()
        image.version = UInt32(cpng_image_version)
        return image
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    static func info(_ data: Data, name: String) throws -> ImageInfo {
        // The IHDR chunk is at a fixed place; read it directly so that nothing
        // (not even libpng's read structures) is allocated for an oversized image.
        let bytes = [UInt8](data.prefix(33))
        guard bytes.count >= 33, Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            throw ImageError.corrupt(name, .png, "missing or short IHDR header")
        }
        func be32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        let width = be32(16), height = be32(20)
        // The PNG specification caps both at 2³¹ − 1; anything above is a damaged header.
        guard width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw ImageError.corrupt(name, .png, "IHDR claims \(width)×\(height), beyond PNG's 2³¹ − 1 limit")
        }
        let depth = Int(bytes[24]), colorType = Int(bytes[25])
        let channels: Int
        switch colorType {
        case 0: channels = 1
        case 2: channels = 3
        case 3: channels = 3  // palette; tRNS may add alpha, which is composited anyway
        case 4: channels = 2
        case 6: channels = 4
        default: throw ImageError.corrupt(name, .png, "unknown colour type \(colorType)")
        }
        return ImageInfo(format: .png, width: width, height: height, channels: channels, bitDepth: depth, orientation: 1)
    }

    static func decode(_ data: Data, name: String, maxSide: Int? = nil, matte: Float = 1) throws -> RGBImage {
        try data.withUnsafeBytes { raw -> RGBImage in
            guard let base = raw.baseAddress else { throw ImageError.empty(name) }
            var image = newImage()
            guard png_image_begin_read_from_memory(&image, base, raw.count) != 0 else {
                let why = message(&image)
                png_image_free(&image)
                throw ImageError.corrupt(name, .png, why)
            }
            let width = Int(image.width), height = Int(image.height)
            let factor = BoxReduce.factor(width: width, height: height, maxSide: maxSide)
            /// 8-bit RGBA (straight alpha) to the image, shrunk first when the photo is too large.
            func rgbImage(fromRGBA bytes: [UInt8]) -> RGBImage {
                bytes.withUnsafeBufferPointer { b in
                    guard factor > 1 else { return RGBImage(interleaved: b, width: width, height: height, channels: 4, matte: matte) }
                    let small = BoxReduce.reduce(b, width: width, height: height, channels: 4, factor: factor)
                    return small.bytes.withUnsafeBufferPointer {
                        RGBImage(interleaved: $0, width: small.width, height: small.height, channels: 4, matte: matte)
                    }
                }
            }
            if image.format & flagLinear != 0 {
                // 16-bit file: the simplified API calls such data linear and would gamma-encode it
                // on the way to 8 bits. Reading into its 16-bit linear format keeps the stored
                // values (premultiplied by alpha), which we composite over the matte ourselves.
                image.format = flagColor | flagAlpha | flagLinear
                var buffer = [UInt16](repeating: 0, count: width * height * 4)
                try finishRead(&image, into: &buffer, rowSamples: width * 4, name: name)
                if factor > 1 {
                    // Straight 8-bit first (the samples are premultiplied), then shrunk.
                    var straight = [UInt8](repeating: 0, count: width * height * 4)
                    for i in 0..<(width * height) {
                        let a = Float(buffer[4 * i + 3])
                        for c in 0..<3 {
                            straight[4 * i + c] = a > 0 ? UInt8(min(255, (Float(buffer[4 * i + c]) / a * 255).rounded())) : 0
                        }
                        straight[4 * i + 3] = UInt8((a / 257).rounded())
                    }
                    buffer = []
                    return rgbImage(fromRGBA: straight)
                }
                let plane = width * height
                var pixels = [Float](repeating: 0, count: 3 * plane)
                let scale: Float = 1 / 65535
                for i in 0..<plane {
                    let transparency = 1 - Float(buffer[4 * i + 3]) * scale
                    for c in 0..<3 { pixels[c * plane + i] = Float(buffer[4 * i + c]) * scale + transparency * matte }
                }
                return RGBImage(width: width, height: height, pixels: pixels)
            }
            // 8-bit files (gray, RGB, palette, tRNS, alpha) become 8-bit RGBA here;
            // alpha is then composited over the matte.
            image.format = UInt32(cpng_format_rgba)
            var buffer = [UInt8](repeating: 0, count: width * height * 4)
            try finishRead(&image, into: &buffer, rowSamples: width * 4, name: name)
            return rgbImage(fromRGBA: buffer)
        }
    }

    /// Decodes the pixels into `buffer` and releases libpng's state either way.
    private static func finishRead<T>(_ image: inout png_image, into buffer: inout [T], rowSamples: Int,
                                      name: String) throws {
        let ok = buffer.withUnsafeMutableBytes { out in
            png_image_finish_read(&image, nil, out.baseAddress, Int32(rowSamples), nil)
        }
        let why = ok == 0 ? message(&image) : ""
        png_image_free(&image)
        guard ok != 0 else { throw ImageError.corrupt(name, .png, why.isEmpty ? "could not decode pixels" : why) }
    }

    private static func write(_ pixels: [UInt8], width: Int, height: Int, format: UInt32, channels: Int) throws -> Data {
        var image = newImage()
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = format
        var size: Int = 0
        let stride = Int32(width * channels)
        guard png_image_write_to_memory(&image, nil, &size, 0, pixels, stride, nil) != 0 else {
            throw ImageError.encodeFailed(message(&image))
        }
        var out = Data(count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            png_image_write_to_memory(&image, dst.baseAddress, &size, 0, pixels, stride, nil)
        }
        guard ok != 0 else { throw ImageError.encodeFailed(message(&image)) }
        return out.prefix(size)
    }

    static func encode(_ image: RGBImage) throws -> Data {
        try write(image.rgb8(), width: image.width, height: image.height, format: UInt32(cpng_format_rgb), channels: 3)
    }

    static func encode(_ image: GrayImage) throws -> Data {
        let bytes = image.pixels.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        return try write(bytes, width: image.width, height: image.height, format: UInt32(cpng_format_gray), channels: 1)
    }
}
