import CJPEG
import Foundation

/// JPEG through libjpeg-turbo's TurboJPEG API (baseline and progressive; no setjmp).
public enum JPEGCodec {
    static func errorText(_ handle: tjhandle?) -> String {
        guard let cstr = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: cstr)
    }

    static func info(_ data: Data, name: String) throws -> ImageInfo {
        guard let handle = tjInitDecompress() else { throw ImageError.corrupt(name, .jpeg, "TurboJPEG did not start") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        let ok = data.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return -1 }
            return tjDecompressHeader3(handle, base, UInt(raw.count), &width, &height, &subsamp, &colorspace)
        }
        guard ok == 0 else { throw ImageError.corrupt(name, .jpeg, errorText(handle)) }
        let channels: Int
        switch colorspace {
        case Int32(TJCS_GRAY.rawValue): channels = 1
        case Int32(TJCS_CMYK.rawValue), Int32(TJCS_YCCK.rawValue): channels = 4
        default: channels = 3
        }
        let orientation = EXIF.orientation(inJPEG: data)
        let swap = orientation >= 5
        return ImageInfo(format: .jpeg, width: Int(swap ? height : width), height: Int(swap ? width : height),
                         channels: channels, bitDepth: 8, orientation: orientation)
    }

    static func decode(_ data: Data, info: ImageInfo, name: String, maxSide: Int? = nil) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageError.corrupt(name, .jpeg, "TurboJPEG did not start") }
        defer { tjDestroy(handle) }
        let swap = info.orientation >= 5
        let fullWidth = swap ? info.height : info.width, fullHeight = swap ? info.width : info.height
        // A photo too large for `maxSide`: the decoder itself scales by 1/2, 1/4 or 1/8 (it
        // skips the work), and a whole-factor box shrink does the rest.
        let factor = BoxReduce.factor(width: fullWidth, height: fullHeight, maxSide: maxSide)
        var scale = 1
        while scale < 8 && scale * 2 <= factor { scale *= 2 }
        let width = (fullWidth + scale - 1) / scale, height = (fullHeight + scale - 1) / scale
        let cmyk = info.channels == 4
        let channels = cmyk ? 4 : 3
        var buffer = [UInt8](repeating: 0, count: width * height * channels)
        let format = cmyk ? TJPF_CMYK : TJPF_RGB
        func decompress(flags: Int32) -> Int32 {
            Self.decompress(handle, data, into: &buffer, width: width, height: height, format: format, flags: flags)
        }
        if !endsWithEOI(data) {
            throw ImageError.corrupt(name, .jpeg, "truncated: the file ends before the end-of-image marker")
        }
        // The first warning stops the decoder, so none hides behind a later one. libjpeg's
        // warnings mean damaged data (a scan cut short, a size the data cannot fill, entropy
        // codes that do not decode), which it papers over with gray or garbage pixels: not
        // the photo. The one it raises for a few stray bytes before a marker, which some
        // cameras write, leaves every pixel intact: that file is decoded again without stopping.
        if decompress(flags: TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0 {
            let why = errorText(handle)
            guard tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue), Self.isHarmless(warning: why, fileSize: data.count) else {
                throw ImageError.corrupt(name, .jpeg, why.contains("Premature end") || why.contains("premature end") ? "truncated: \(why)" : why)
            }
            // The padding is at the very end, so nothing can follow it: decode to the end.
            if decompress(flags: TJFLAG_ACCURATEDCT) != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
                throw ImageError.corrupt(name, .jpeg, errorText(handle))
            }
        }
        if cmyk {
            // Adobe writes CMYK JPEGs inverted: stored value 255 means no ink.
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) {
                let k = Int(buffer[4 * i + 3])
                for c in 0..<3 { rgb[3 * i + c] = UInt8(Int(buffer[4 * i + c]) * k / 255) }
            }
            buffer = rgb
        }
        let rest = BoxReduce.factor(width: width, height: height, maxSide: maxSide)
        let stored = buffer.withUnsafeBufferPointer { b -> RGBImage in
            guard rest > 1 else { return RGBImage(interleaved: b, width: width, height: height, channels: 3) }
            let small = BoxReduce.reduce(b, width: width, height: height, channels: 3, factor: rest)
            return small.bytes.withUnsafeBufferPointer { RGBImage(interleaved: $0, width: small.width, height: small.height, channels: 3) }
        }
        return Orientation.apply(info.orientation, to: stored)
    }

    /// The damage libjpeg finds in a JPEG, decoding every scan without stopping: its (first)
    /// warning, unless that is harmless end padding; nil when none. The image fuzz target
    /// checks that no file `decode` accepts has any, so nothing damaged decodes silently.
    public static func damageLeftUnreported(_ data: Data) -> String? {
        guard let info = try? info(data, name: "check"), let handle = tjInitDecompress() else { return nil }
        defer { tjDestroy(handle) }
        let swap = info.orientation >= 5
        let width = swap ? info.height : info.width, height = swap ? info.width : info.height
        let format = info.channels == 4 ? TJPF_CMYK : TJPF_RGB
        var buffer = [UInt8](repeating: 0, count: width * height * (info.channels == 4 ? 4 : 3))
        guard decompress(handle, data, into: &buffer, width: width, height: height, format: format, flags: TJFLAG_ACCURATEDCT) != 0 else { return nil }
        let why = errorText(handle)
        return tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) && isHarmless(warning: why, fileSize: data.count) ? nil : why
    }

    /// One TurboJPEG decode of `data` into `buffer` (sized for `width × height` in `format`);
    /// 0 on success, else the handle holds the error or first warning.
    private static func decompress(_ handle: tjhandle, _ data: Data, into buffer: inout [UInt8], width: Int, height: Int,
                                   format: TJPF, flags: Int32) -> Int32 {
        data.withUnsafeBytes { raw -> Int32 in
            guard let src = raw.bindMemory(to: UInt8.self).baseAddress else { return -1 }
            return buffer.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src, UInt(raw.count), dst.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue), flags)
            }
        }
    }

    /// libjpeg's warning about a few bytes before the end marker ("Corrupt JPEG data: 2
    /// extraneous bytes before marker 0xd9"): padding some writers leave after the image data.
    /// Many such bytes mean the decoder stopped early in data it could not read (Huffman-coded
    /// data labelled arithmetic-coded left 672 of 2,000 bytes unread, the pixels garbage), so
    /// only a few (at most 64, and under 1 % of the file) count as padding. Stray bytes before
    /// any other marker (a later scan's) do not: libjpeg reports only its first warning, so
    /// damage further on would go unseen (a progressive file padded before its second scan
    /// and cut short in its last decoded silently).
    static func isHarmless(warning: String, fileSize: Int) -> Bool {
        guard let range = warning.range(of: " extraneous bytes before marker 0xd9") else { return false }
        let count = Int(warning[..<range.lowerBound].split(separator: " ").last ?? "") ?? Int.max
        return count <= 64 && count * 100 < fileSize
    }

    /// True when an end-of-image marker follows the last start-of-scan marker. Byte stuffing
    /// keeps both markers out of entropy-coded data, so a file cut short fails this test
    /// even when libjpeg would decode the part it has (progressive files do that silently).
    static func endsWithEOI(_ data: Data) -> Bool {
        var lastSOS = -1, lastEOI = -1
        data.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            guard b.count >= 2 else { return }
            for i in 0..<(b.count - 1) where b[i] == 0xFF {
                if b[i + 1] == 0xDA { lastSOS = i } else if b[i + 1] == 0xD9 { lastEOI = i }
            }
        }
        return lastSOS >= 0 && lastEOI > lastSOS
    }

    /// Encodes an image as JPEG (used for previews and to make test fixtures).
    public static func encode(_ image: RGBImage, quality: Int = 90, progressive: Bool = false) throws -> Data {
        guard let handle = tjInitCompress() else { throw ImageError.encodeFailed("TurboJPEG did not start") }
        defer { tjDestroy(handle) }
        let rgb = image.rgb8()
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let flags = TJFLAG_ACCURATEDCT | (progressive ? TJFLAG_PROGRESSIVE : 0)
        let status = rgb.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &out, &size, Int32(TJSAMP_444.rawValue), Int32(quality), flags)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw ImageError.encodeFailed(errorText(handle)) }
        return Data(bytes: out, count: Int(size))
    }
}

/// EXIF orientation, read from the APP1 segment of a JPEG.
public enum EXIF {
    /// The orientation tag (1–8), or 1 when the file has none or it is unreadable.
    public static func orientation(inJPEG data: Data) -> Int {
        let b = [UInt8](data.prefix(256 * 1024))
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return 1 }
            let marker = b[i + 1]
            if marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) { i += 2; continue }
            if marker == 0xFF { i += 1; continue }
            if marker == 0xDA || marker == 0xD9 { return 1 }  // pixel data begins: no EXIF before it
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2 else { return 1 }
            let start = i + 4, end = min(b.count, i + 2 + length)
            if marker == 0xE1, end - start > 14, Array(b[start..<start + 6]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return parseTIFF(Array(b[(start + 6)..<end])) ?? 1
            }
            i += 2 + length
        }
        return 1
    }

    private static func parseTIFF(_ t: [UInt8]) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        if t[0] == 0x49 && t[1] == 0x49 { little = true } else if t[0] == 0x4D && t[1] == 0x4D { little = false } else { return nil }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let lo = u16(little ? o : o + 2), let hi = u16(little ? o + 2 : o) else { return nil }
            return hi << 16 | lo
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for e in 0..<count {
            let entry = ifd + 2 + 12 * e
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112, let value = u16(entry + 8), (1...8).contains(value) { return value }
        }
        return nil
    }
}

/// Applies EXIF orientations so that images are upright as displayed.
public enum Orientation {
    /// The displayed image for a stored image with EXIF orientation `o`.
    public static func apply(_ o: Int, to src: RGBImage) -> RGBImage {
        guard (2...8).contains(o) else { return src }
        let sw = src.width, sh = src.height
        let swap = o >= 5
        let w = swap ? sh : sw, h = swap ? sw : sh
        var out = RGBImage(width: w, height: h)
        for y in 0..<h {
            for x in 0..<w {
                let (sx, sy): (Int, Int)
                switch o {
                case 2: (sx, sy) = (sw - 1 - x, y)
                case 3: (sx, sy) = (sw - 1 - x, sh - 1 - y)
                case 4: (sx, sy) = (x, sh - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, sh - 1 - x)
                case 7: (sx, sy) = (sw - 1 - y, sh - 1 - x)
                default: (sx, sy) = (sw - 1 - y, x)  // 8
                }
                for c in 0..<3 { out[c, x, y] = src[c, sx, sy] }
            }
        }
        return out
    }
}
