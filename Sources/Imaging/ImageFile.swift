import Foundation

/// The container formats we recognise by their first bytes.
public enum ImageFormat: String, Sendable, Codable {
    case png, jpeg
    // Recognised only to name them in an error; not decoded.
    case gif, bmp, webp, tiff, heic, svg

    /// Formats `decode` accepts.
    public var isDecodable: Bool { self == .png || self == .jpeg }

    /// Identifies a format from the file's magic bytes; the name of the file is never consulted.
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        let head = Array(bytes.prefix(32))
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts(Array("GIF8".utf8)) { return .gif }
        if starts(Array("BM".utf8)) { return .bmp }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if starts(Array("ftyp".utf8), at: 4) { return .heic }
        let text = String(decoding: head, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("<svg") || (text.hasPrefix("<?xml") && text.contains("svg")) { return .svg }
        return nil
    }
}

/// What a file's header says, read without decoding pixels.
public struct ImageInfo: Sendable, Equatable, Codable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// Channels as stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha (or CMYK for JPEG).
    public var channels: Int
    public var bitDepth: Int
    /// EXIF orientation (1–8) for JPEG; 1 when absent. `width`/`height` are as displayed.
    public var orientation: Int

    public init(format: ImageFormat, width: Int, height: Int, channels: Int, bitDepth: Int, orientation: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.orientation = orientation
    }

    /// width × height, or nil when the product does not fit an Int: a header may claim anything.
    public var pixelCount: Int? { Self.pixelCount(width: width, height: height) }

    static func pixelCount(width: Int, height: Int) -> Int? {
        guard width >= 0, height >= 0 else { return nil }
        let (product, overflow) = width.multipliedReportingOverflow(by: height)
        return overflow ? nil : product
    }
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case isDirectory(String)
    /// A device, FIFO or socket: reading it could block or never end.
    case notRegularFile(String, kind: String)
    case unreadable(String, String)
    case empty(String)
    case unsupportedFormat(String, ImageFormat?)
    case corrupt(String, ImageFormat, String)
    case tooLarge(String, width: Int, height: Int, limit: Int)
    case encodeFailed(String)

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p): no such file"
        case .isDirectory(let p): return "\(p): is a directory, not an image file"
        case .notRegularFile(let p, let kind): return "\(p): is \(kind), not a regular file; give a PNG or JPEG file"
        case .unreadable(let p, let why): return "\(p): cannot be read (\(why))"
        case .empty(let p): return "\(p): the file is empty"
        case .unsupportedFormat(let p, let f):
            if let f { return "\(p): \(f.rawValue.uppercased()) images are not supported; convert it to PNG or JPEG" }
            return "\(p): not a PNG or JPEG file (unrecognised leading bytes); give a PNG or JPEG image"
        case .corrupt(let p, let f, let why): return "\(p): damaged \(f.rawValue.uppercased()) data (\(why))"
        case .tooLarge(let p, let w, let h, let limit):
            let pixels = ImageInfo.pixelCount(width: w, height: h).map { "\($0)" } ?? "more than \(Int.max)"
            return "\(p): \(w)×\(h) is \(pixels) pixels, above the limit of \(limit); shrink the image or raise the limit"
        case .encodeFailed(let why): return "could not encode PNG (\(why))"
        }
    }
}

/// Reading and writing image files. Formats are chosen by content, never by name.
public enum ImageFile {
    /// The default ceiling on width × height, checked from the header before pixels are allocated.
    public static let defaultMaxPixels = 50_000_000

    /// The long side photos are read at for sketching: the engine works on a 224-pixel canvas
    /// and a 320-pixel mask, so nothing larger is ever needed, and a 49-megapixel photo then
    /// costs a quarter of a gigabyte while decoding instead of over a gigabyte.
    public static let workingMaxSide = 2048

    /// Reads a file's bytes with errors that name the file.
    public static func readBytes(path: String) throws -> Data {
        guard !path.utf8.contains(0) else { throw ImageError.notFound(path.debugDescription) }
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw ImageError.notFound(path) }
            throw ImageError.unreadable(path, String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ImageError.isDirectory(path)
        default: throw ImageError.notRegularFile(path, kind: AtomicFile.kindOfFile(info.st_mode))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            // Foundation's own words ("The operation could not be completed", error 256) say
            // nothing; the system's reason underneath does.
            throw ImageError.unreadable(path, systemReadFailure(path) ?? "the system would not read it")
        }
        if data.isEmpty { throw ImageError.empty(path) }
        return data
    }

    /// Why the system will not read `path`, from `open` and a one-byte `read`: nil if both work.
    static func systemReadFailure(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return FileWriteError.reason(errno: errno) }
        defer { close(fd) }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) < 0 ? FileWriteError.reason(errno: errno).lowercased() : nil
    }

    /// Header facts for a file on disk.
    public static func inspect(path: String) throws -> ImageInfo {
        try inspect(data: readBytes(path: path), name: path)
    }

    /// Header facts for bytes in memory. `name` is used in error messages.
    public static func inspect(data: Data, name: String = "image") throws -> ImageInfo {
        if data.isEmpty { throw ImageError.empty(name) }
        switch ImageFormat.sniff(data) {
        case .png: return try PNGCodec.info(data, name: name)
        case .jpeg: return try JPEGCodec.info(data, name: name)
        case let other: throw ImageError.unsupportedFormat(name, other)
        }
    }

    /// Throws unless the header's size is positive and within `maxPixels`; checked before any
    /// pixel is allocated, with arithmetic that cannot overflow whatever the header claims.
    public static func checkSize(_ info: ImageInfo, name: String, maxPixels: Int = defaultMaxPixels) throws {
        if info.width <= 0 || info.height <= 0 {
            throw ImageError.corrupt(name, info.format, "zero width or height")
        }
        guard let pixels = info.pixelCount, pixels <= maxPixels else {
            throw ImageError.tooLarge(name, width: info.width, height: info.height, limit: maxPixels)
        }
    }

    /// Decodes a PNG or JPEG file to RGB in [0,1], EXIF orientation applied, alpha composited
    /// on `matte` (white: a photo on the page; black: a mask, where transparent is not subject).
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels, maxSide: Int? = nil, matte: Float = 1) throws -> RGBImage {
        try decode(data: readBytes(path: path), name: path, maxPixels: maxPixels, maxSide: maxSide, matte: matte)
    }

    /// Decodes PNG or JPEG bytes.
    /// `maxSide`: a photo whose long side is larger is shrunk by a whole factor while it is
    /// still 8-bit (JPEG already in the decoder), so its long side is at most `maxSide`.
    public static func decode(data: Data, name: String = "image", maxPixels: Int = defaultMaxPixels,
                              maxSide: Int? = nil, matte: Float = 1) throws -> RGBImage {
        let info = try inspect(data: data, name: name)
        try checkSize(info, name: name, maxPixels: maxPixels)
        switch info.format {
        case .png: return try PNGCodec.decode(data, name: name, maxSide: maxSide, matte: matte)
        case .jpeg: return try JPEGCodec.decode(data, info: info, name: name, maxSide: maxSide)
        default: throw ImageError.unsupportedFormat(name, info.format)
        }
    }

    /// Writes an image as 8-bit RGB PNG, atomically (temporary file, then rename).
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        let bytes = try PNGCodec.encode(image)
        try AtomicFile.write(bytes, to: path)
    }

    /// Writes a gray image as 8-bit gray PNG, atomically.
    public static func writePNG(_ image: GrayImage, to path: String) throws {
        let bytes = try PNGCodec.encode(image)
        try AtomicFile.write(bytes, to: path)
    }

    /// PNG bytes of a gray image (8-bit).
    public static func pngData(_ image: GrayImage) throws -> Data { try PNGCodec.encode(image) }

    /// PNG bytes of a colour image (8-bit RGB).
    public static func pngData(_ image: RGBImage) throws -> Data { try PNGCodec.encode(image) }
}
