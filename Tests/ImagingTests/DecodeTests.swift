import Foundation
import XCTest
import Imaging
import TestSupport

final class DecodeTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("decode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func write(_ data: Data, _ name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    func assertPixel(_ img: RGBImage, _ x: Int, _ y: Int, _ rgb: (Float, Float, Float), tol: Float = 1.0 / 255 + 1e-6,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(img[0, x, y], rgb.0, accuracy: tol, "R at \(x),\(y)", file: file, line: line)
        XCTAssertEqual(img[1, x, y], rgb.1, accuracy: tol, "G at \(x),\(y)", file: file, line: line)
        XCTAssertEqual(img[2, x, y], rgb.2, accuracy: tol, "B at \(x),\(y)", file: file, line: line)
    }

    // MARK: PNG kinds

    func testPNGRGB8() throws {
        let data = PNGFixture.make(width: 2, height: 1, depth: 8, colorType: 2, samples: [255, 0, 0, 10, 200, 30])
        let img = try ImageFile.decode(data: data)
        XCTAssertEqual(img.width, 2)
        XCTAssertEqual(img.height, 1)
        assertPixel(img, 0, 0, (1, 0, 0))
        assertPixel(img, 1, 0, (10 / 255, 200 / 255, 30 / 255))
        let info = try ImageFile.inspect(data: data)
        XCTAssertEqual(info.format, .png)
        XCTAssertEqual(info.channels, 3)
        XCTAssertEqual(info.bitDepth, 8)
    }

    func testPNGRGBAIsCompositedOnWhite() throws {
        // Opaque blue, fully transparent red, half-transparent black.
        let data = PNGFixture.make(width: 3, height: 1, depth: 8, colorType: 6,
                                   samples: [0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0, 128])
        let img = try ImageFile.decode(data: data)
        assertPixel(img, 0, 0, (0, 0, 1))
        assertPixel(img, 1, 0, (1, 1, 1))
        let half: Float = 1 - 128.0 / 255
        assertPixel(img, 2, 0, (half, half, half))
        XCTAssertEqual(try ImageFile.inspect(data: data).channels, 4)
    }

    /// Masks are read on a black matte: transparent is "not subject" (issue 24 item 16).
    func testPNGAlphaOnABlackMatte() throws {
        let data = PNGFixture.make(width: 3, height: 1, depth: 8, colorType: 6,
                                   samples: [255, 255, 255, 255, 255, 255, 255, 0, 255, 255, 255, 128])
        let img = try ImageFile.decode(data: data, matte: 0)
        assertPixel(img, 0, 0, (1, 1, 1))
        assertPixel(img, 1, 0, (0, 0, 0))
        let half: Float = 128.0 / 255
        assertPixel(img, 2, 0, (half, half, half))
        let grayAlpha = PNGFixture.make(width: 1, height: 1, depth: 8, colorType: 4, samples: [255, 0])
        assertPixel(try ImageFile.decode(data: grayAlpha, matte: 0), 0, 0, (0, 0, 0))
        let rgba16 = PNGFixture.make(width: 1, height: 1, depth: 16, colorType: 6, samples: [65535, 65535, 65535, 0])
        assertPixel(try ImageFile.decode(data: rgba16, matte: 0), 0, 0, (0, 0, 0))
    }

    func testPNGGray8AndGrayAlpha() throws {
        let gray = PNGFixture.make(width: 2, height: 2, depth: 8, colorType: 0, samples: [0, 64, 128, 255])
        let g = try ImageFile.decode(data: gray)
        assertPixel(g, 1, 0, (64 / 255, 64 / 255, 64 / 255))
        assertPixel(g, 0, 1, (128 / 255, 128 / 255, 128 / 255))
        XCTAssertEqual(try ImageFile.inspect(data: gray).channels, 1)

        let ga = PNGFixture.make(width: 2, height: 1, depth: 8, colorType: 4, samples: [0, 255, 0, 0])
        let a = try ImageFile.decode(data: ga)
        assertPixel(a, 0, 0, (0, 0, 0))
        assertPixel(a, 1, 0, (1, 1, 1))
        XCTAssertEqual(try ImageFile.inspect(data: ga).channels, 2)
    }

    func testPNG16Bit() throws {
        let rgb16 = PNGFixture.make(width: 2, height: 1, depth: 16, colorType: 2,
                                    samples: [65535, 0, 32896, 0, 65535, 12850])
        let img = try ImageFile.decode(data: rgb16)
        assertPixel(img, 0, 0, (1, 0, 128 / 255))
        assertPixel(img, 1, 0, (0, 1, 50 / 255))
        XCTAssertEqual(try ImageFile.inspect(data: rgb16).bitDepth, 16)

        let gray16 = PNGFixture.make(width: 1, height: 1, depth: 16, colorType: 0, samples: [51400])
        assertPixel(try ImageFile.decode(data: gray16), 0, 0, (200 / 255, 200 / 255, 200 / 255))

        let rgba16 = PNGFixture.make(width: 1, height: 1, depth: 16, colorType: 6, samples: [0, 0, 0, 0])
        assertPixel(try ImageFile.decode(data: rgba16), 0, 0, (1, 1, 1))
    }

    func testPNGPaletteWithTransparency() throws {
        let data = PNGFixture.make(width: 3, height: 1, depth: 8, colorType: 3, samples: [0, 1, 2],
                                   palette: [(255, 0, 0), (0, 255, 0), (0, 0, 0)], paletteAlpha: [255, 255, 0])
        let img = try ImageFile.decode(data: data)
        assertPixel(img, 0, 0, (1, 0, 0))
        assertPixel(img, 1, 0, (0, 1, 0))
        assertPixel(img, 2, 0, (1, 1, 1))  // transparent palette entry shows the white page
    }

    // MARK: JPEG kinds

    func gradient(width: Int, height: Int) -> RGBImage {
        var img = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                img[0, x, y] = Float(x) / Float(width - 1)
                img[1, x, y] = Float(y) / Float(height - 1)
                img[2, x, y] = 0.5
            }
        }
        return img
    }

    func meanAbsDiff(_ a: RGBImage, _ b: RGBImage) -> Float {
        zip(a.pixels, b.pixels).map { abs($0 - $1) }.reduce(0, +) / Float(a.pixels.count)
    }

    func testJPEGBaselineAndProgressive() throws {
        let src = gradient(width: 48, height: 32)
        for progressive in [false, true] {
            let data = try JPEGCodec.encode(src, quality: 95, progressive: progressive)
            // Progressive files carry an SOF2 marker; baseline SOF0.
            let sof2 = data.windowsContain([0xFF, 0xC2])
            XCTAssertEqual(sof2, progressive)
            let img = try ImageFile.decode(data: data)
            XCTAssertEqual(img.width, 48)
            XCTAssertEqual(img.height, 32)
            XCTAssertLessThan(meanAbsDiff(img, src), 0.01)
        }
    }

    /// Inserts an APP1 EXIF segment with the given orientation right after SOI.
    func withOrientation(_ jpeg: Data, _ orientation: UInt16, bigEndian: Bool) -> Data {
        var tiff: [UInt8] = bigEndian ? [0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8] : [0x49, 0x49, 0x2A, 0, 8, 0, 0, 0]
        func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) -> [UInt8] { bigEndian ? PNGFixture.be32(v) : PNGFixture.be32(v).reversed() }
        tiff += u16(1)  // one entry
        tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]
        tiff += u32(0)
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        var out = Data(jpeg.prefix(2))
        out.append(contentsOf: segment)
        out.append(jpeg.dropFirst(2))
        return out
    }

    func testEXIFOrientationIsApplied() throws {
        // Stored 40×20: left half red, right half blue, a black bar on the top rows.
        var src = RGBImage(width: 40, height: 20)
        for y in 0..<20 {
            for x in 0..<40 {
                let top = y < 5
                src[0, x, y] = top ? 0 : (x < 20 ? 1 : 0)
                src[1, x, y] = 0
                src[2, x, y] = top ? 0 : (x < 20 ? 0 : 1)
            }
        }
        let jpeg = try JPEGCodec.encode(src, quality: 95)
        for o in 1...8 {
            for big in [false, true] {
                let data = withOrientation(jpeg, UInt16(o), bigEndian: big)
                let info = try ImageFile.inspect(data: data)
                XCTAssertEqual(info.orientation, o)
                let img = try ImageFile.decode(data: data)
                let expected = Orientation.apply(o, to: try ImageFile.decode(data: jpeg))
                XCTAssertEqual(img.width, o >= 5 ? 20 : 40, "orientation \(o)")
                XCTAssertEqual(img.height, o >= 5 ? 40 : 20, "orientation \(o)")
                XCTAssertEqual(info.width, img.width)
                XCTAssertLessThan(meanAbsDiff(img, expected), 1e-6)
            }
        }
        // Orientation 6 (rotate 90° clockwise to display): the stored top bar ends on the right.
        let rotated = try ImageFile.decode(data: withOrientation(jpeg, 6, bigEndian: false))
        XCTAssertLessThan(rotated[0, 19, 30] + rotated[2, 19, 30], 0.2)  // black bar, right edge
        XCTAssertGreaterThan(rotated[0, 2, 5], 0.8)                      // red half ends on top
        XCTAssertGreaterThan(rotated[2, 2, 35], 0.8)                     // blue half below
    }

    func testOrientationMapsEveryCase() {
        // A 3×2 image with distinct values; check each orientation against a hand-made answer.
        var src = RGBImage(width: 3, height: 2)
        for y in 0..<2 { for x in 0..<3 { src[0, x, y] = Float(y * 3 + x) } }
        func values(_ img: RGBImage) -> [Float] { (0..<img.height).flatMap { y in (0..<img.width).map { img[0, $0, y] } } }
        XCTAssertEqual(values(Orientation.apply(1, to: src)), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(values(Orientation.apply(2, to: src)), [2, 1, 0, 5, 4, 3])
        XCTAssertEqual(values(Orientation.apply(3, to: src)), [5, 4, 3, 2, 1, 0])
        XCTAssertEqual(values(Orientation.apply(4, to: src)), [3, 4, 5, 0, 1, 2])
        XCTAssertEqual(values(Orientation.apply(5, to: src)), [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(values(Orientation.apply(6, to: src)), [3, 0, 4, 1, 5, 2])
        XCTAssertEqual(values(Orientation.apply(7, to: src)), [5, 2, 4, 1, 3, 0])
        XCTAssertEqual(values(Orientation.apply(8, to: src)), [2, 5, 1, 4, 0, 3])
    }

    func testRealExamplePhotos() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["bull.jpg", "house.jpg"] {
            let path = root.appendingPathComponent("examples/\(name)").path
            let img = try ImageFile.decode(path: path)
            XCTAssertEqual(img.width, 500)
            XCTAssertEqual(img.height, 500)
            let mean = img.pixels.reduce(0, +) / Float(img.pixels.count)
            XCTAssertGreaterThan(mean, 0.1)
            XCTAssertLessThan(mean, 0.9)
        }
    }

    // MARK: Content, not names

    func testFormatIsSniffedNotTakenFromTheName() throws {
        let jpeg = try JPEGCodec.encode(gradient(width: 8, height: 8))
        let path = try write(jpeg, "photo.png")
        XCTAssertEqual(try ImageFile.inspect(path: path).format, .jpeg)
        XCTAssertEqual(try ImageFile.decode(path: path).width, 8)
        let png = PNGFixture.make(width: 1, height: 1, depth: 8, colorType: 0, samples: [7])
        let pngPath = try write(png, "picture.jpg")
        XCTAssertEqual(try ImageFile.inspect(path: pngPath).format, .png)
    }

    // MARK: Bad input

    func assertThrows(_ expected: (ImageError) -> Bool, _ body: () throws -> Void,
                      file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
        } catch let error as ImageError {
            XCTAssertTrue(expected(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertFalse(error.description.isEmpty)
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    func testMissingEmptyDirectory() throws {
        assertThrows({ if case .notFound = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(path: dir.appendingPathComponent("nope.png").path)
        }
        let empty = try write(Data(), "empty.png")
        assertThrows({ if case .empty = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(path: empty)
        }
        assertThrows({ if case .isDirectory = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(path: dir.path)
        }
    }

    func testTruncatedFiles() throws {
        let png = PNGFixture.make(width: 64, height: 64, depth: 8, colorType: 2,
                                  samples: (0..<(64 * 64 * 3)).map { $0 % 256 })
        for cut in [20, 40, png.count / 2, png.count - 13] {
            assertThrows({ if case .corrupt(_, .png, _) = $0 { return true } else { return false } }) {
                _ = try ImageFile.decode(data: png.prefix(cut))
            }
        }
        let jpeg = try JPEGCodec.encode(gradient(width: 64, height: 64))
        for cut in [jpeg.count / 2, jpeg.count - 10] {
            assertThrows({ if case .corrupt(_, .jpeg, _) = $0 { return true } else { return false } }) {
                _ = try ImageFile.decode(data: jpeg.prefix(cut))
            }
        }
        let progressive = try JPEGCodec.encode(gradient(width: 64, height: 64), progressive: true)
        assertThrows({ if case .corrupt(_, .jpeg, _) = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: progressive.prefix(progressive.count / 2))
        }
    }

    /// Damaged JPEGs that libjpeg decodes anyway, from gray or garbage pixels, with only a
    /// warning: each is refused as corrupt, never handed on as a photo (issue 24, item 15). A
    /// file with stray bytes before its end marker (some cameras write them) still decodes.
    func testDamagedJPEGsAreRefused() throws {
        let photo = gradient(width: 96, height: 64)
        let jpeg = [UInt8](try JPEGCodec.encode(photo, quality: 90))
        func marker(_ code: UInt8, in bytes: [UInt8]) -> Int? {
            (0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == code }
        }
        guard let sos = marker(0xDA, in: jpeg), let sof = marker(0xC0, in: jpeg) else { return XCTFail("no SOS/SOF0") }
        let isCorrupt = { (e: ImageError) -> Bool in if case .corrupt(_, .jpeg, _) = e { return true } else { return false } }
        // A scan cut short, the end marker kept (so the "file ends early" check passes).
        let cut = Array(jpeg[..<(sos + (jpeg.count - sos) / 3)]) + [0xFF, 0xD9]
        assertThrows(isCorrupt) { _ = try ImageFile.decode(data: Data(cut)) }
        // A size the data cannot fill: SOF claims 1000 × 1000 (within the pixel limit).
        var forged = jpeg
        forged[sof + 5] = 0x03; forged[sof + 6] = 0xE8
        forged[sof + 7] = 0x03; forged[sof + 8] = 0xE8
        assertThrows(isCorrupt) { _ = try ImageFile.decode(data: Data(forged)) }
        // Huffman-coded data relabelled as arithmetic-coded (SOF0 → SOF9).
        var relabelled = jpeg
        relabelled[sof + 1] = 0xC9
        assertThrows(isCorrupt) { _ = try ImageFile.decode(data: Data(relabelled)) }
        // Stray bytes between the scan and the end marker: a warning libjpeg raises for harmless
        // padding; the photo decodes as before.
        let padded = Array(jpeg[..<(jpeg.count - 2)]) + [0x00, 0x00, 0x00, 0xFF, 0xD9]
        let img = try ImageFile.decode(data: Data(padded))
        XCTAssertLessThan(meanAbsDiff(img, try ImageFile.decode(data: Data(jpeg))), 1e-6)
        XCTAssertNil(JPEGCodec.damageLeftUnreported(Data(padded)))
        // Padding before a later scan, then that scan cut short: the padding's warning stopped
        // the first decode, and libjpeg reports only its first warning, so the second decode
        // (to the end) hid the damage. Only padding before the end marker is harmless now.
        // (A progressive file reads its later scans' markers while decoding.)
        let progressive = [UInt8](try JPEGCodec.encode(photo, quality: 90, progressive: true))
        let scans = (0..<(progressive.count - 1)).filter { progressive[$0] == 0xFF && progressive[$0 + 1] == 0xDA }
        guard scans.count >= 3, let last = scans.last else { return XCTFail("\(scans.count) scans") }
        let paddedThenCut = Array(progressive[..<scans[1]]) + [0x00, 0x00] + Array(progressive[scans[1]..<(last + (progressive.count - last) / 3)]) + [0xFF, 0xD9]
        XCTAssertNotNil(JPEGCodec.damageLeftUnreported(Data(paddedThenCut)))
        assertThrows(isCorrupt) { _ = try ImageFile.decode(data: Data(paddedThenCut)) }
    }

    func testWrongMagic() {
        assertThrows({ if case .unsupportedFormat(_, .gif) = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8))
        }
        assertThrows({ if case .unsupportedFormat(_, nil) = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: Data("hello, world".utf8))
        }
    }

    func testOversizedDimensionsAreRefusedFromTheHeader() throws {
        // A PNG header that claims 100000×100000 but has no pixel data behind it.
        let ihdr = PNGFixture.be32(100_000) + PNGFixture.be32(100_000) + [8, 2, 0, 0, 0]
        let fake = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + PNGFixture.chunk("IHDR", ihdr))
        assertThrows({ if case .tooLarge(_, 100_000, 100_000, _) = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: fake)
        }
        // A JPEG whose SOF claims 30000×30000.
        var jpeg = [UInt8](try JPEGCodec.encode(gradient(width: 16, height: 16)))
        guard let sof = (0..<(jpeg.count - 1)).first(where: { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 marker")
        }
        jpeg[sof + 5] = 0x75; jpeg[sof + 6] = 0x30  // height 30000
        jpeg[sof + 7] = 0x75; jpeg[sof + 8] = 0x30  // width 30000
        assertThrows({ if case .tooLarge = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: Data(jpeg))
        }
        // A small limit applies to a small real image as well.
        let ok = PNGFixture.make(width: 10, height: 10, depth: 8, colorType: 0, samples: Array(repeating: 1, count: 100))
        assertThrows({ if case .tooLarge = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(data: ok, maxPixels: 99)
        }
        XCTAssertNoThrow(try ImageFile.decode(data: ok, maxPixels: 100))
    }

    /// A 45-byte PNG whose IHDR claims 4294967295 × 4294967295 once trapped on width × height.
    static func hugeHeaderPNG(width: UInt32 = 0xFFFF_FFFF, height: UInt32 = 0xFFFF_FFFF) -> Data {
        let ihdr = PNGFixture.be32(width) + PNGFixture.be32(height) + [8, 2, 0, 0, 0]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + PNGFixture.chunk("IHDR", ihdr) + PNGFixture.chunk("IEND", []))
    }

    func testHeaderSizesThatOverflowAreErrorsNotTraps() throws {
        for (w, h): (UInt32, UInt32) in [(0xFFFF_FFFF, 0xFFFF_FFFF), (3_100_000_000, 3_100_000_000), (0x8000_0000, 1)] {
            let png = Self.hugeHeaderPNG(width: w, height: h)
            XCTAssertEqual(png.count, 45)
            assertThrows({ if case .corrupt(_, .png, let why) = $0 { return why.contains("2³¹") } else { return false } }) {
                _ = try ImageFile.decode(data: png)
            }
            assertThrows({ if case .corrupt(_, .png, _) = $0 { return true } else { return false } }) {
                _ = try ImageFile.inspect(data: png)
            }
        }
        // Within PNG's range but over the limit: refused from the header, message computed safely.
        let big = Self.hugeHeaderPNG(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF)
        assertThrows({ if case .tooLarge = $0 { return true } else { return false } }) { _ = try ImageFile.decode(data: big) }
        // A size whose product overflows Int (any source of ImageInfo) is too large, not a trap.
        let info = ImageInfo(format: .png, width: Int.max / 2, height: 4, channels: 3, bitDepth: 8, orientation: 1)
        XCTAssertNil(info.pixelCount)
        do {
            try ImageFile.checkSize(info, name: "x")
            XCTFail("accepted an overflowing size")
        } catch let e as ImageError {
            XCTAssertTrue(e.description.contains("more than"), e.description)
        }
    }

    /// Photos larger than the working size are shrunk while still 8-bit: the result equals
    /// averaging the composited full-size pixels over each block.
    func testLargePhotosAreShrunkWhileDecoding() throws {
        let width = 65, height = 7
        var samples: [Int] = []
        for y in 0..<height { for x in 0..<width { samples += [(x * 7 + y) % 256, (x * 3) % 256, (y * 40) % 256, (x * 11 + y * 5) % 256] } }
        let png = PNGFixture.make(width: width, height: height, depth: 8, colorType: 6, samples: samples)
        let full = try ImageFile.decode(data: png)
        let small = try ImageFile.decode(data: png, maxSide: 16)
        XCTAssertEqual(small.width, 13)  // factor 5: ⌈65 / 16⌉
        XCTAssertEqual(small.height, 2)
        for oy in 0..<small.height { for ox in 0..<small.width { for c in 0..<3 {
            var sum: Float = 0, n: Float = 0
            for y in (oy * 5)..<min(height, oy * 5 + 5) { for x in (ox * 5)..<min(width, ox * 5 + 5) { sum += full[c, x, y]; n += 1 } }
            XCTAssertEqual(small[c, ox, oy], sum / n, accuracy: 2.5 / 255, "(\(c), \(ox), \(oy))")
        } } }
        // Within the working size nothing changes.
        XCTAssertEqual(try ImageFile.decode(data: png, maxSide: 65), full)
        // JPEG: the decoder's own 1/2, 1/4, 1/8 scaling, then a box shrink.
        let jpeg = try JPEGCodec.encode(gradient(width: 200, height: 120))
        let j = try ImageFile.decode(data: jpeg, maxSide: 30)
        XCTAssertEqual(j.width, 25)   // 1/4 → 50 × 30, then factor 2
        XCTAssertEqual(j.height, 15)
        let jFull = try ImageFile.decode(data: jpeg)
        XCTAssertEqual(j[0, 12, 7], jFull[0, 100, 60], accuracy: 0.05)
    }

    func testDevicesAndFIFOsAreNotImageFiles() throws {
        assertThrows({ if case .notRegularFile(_, let kind) = $0 { return kind.contains("device") } else { return false } }) {
            _ = try ImageFile.decode(path: "/dev/zero")
        }
        let fifo = dir.appendingPathComponent("pipe.png").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        assertThrows({ if case .notRegularFile(_, let kind) = $0 { return kind.contains("FIFO") } else { return false } }) {
            _ = try ImageFile.decode(path: fifo)
        }
        assertThrows({ if case .notFound = $0 { return true } else { return false } }) {
            _ = try ImageFile.decode(path: "a\u{0}b.png")
        }
    }

    // MARK: Encoding

    func testPNGRoundTrip() throws {
        let src = gradient(width: 13, height: 7)
        let path = dir.appendingPathComponent("out.png").path
        try ImageFile.writePNG(src, to: path)
        let back = try ImageFile.decode(path: path)
        XCTAssertLessThanOrEqual(zip(back.pixels, src.pixels).map { abs($0 - $1) }.max() ?? 1, 0.5 / 255 + 1e-6)
        var gray = GrayImage(width: 4, height: 3)
        gray[2, 1] = 1
        try ImageFile.writePNG(gray, to: path)
        let g = try ImageFile.decode(path: path)
        XCTAssertEqual(g[0, 2, 1], 1)
        XCTAssertEqual(g[1, 0, 0], 0)
    }
}

extension Data {
    func windowsContain(_ pattern: [UInt8]) -> Bool {
        let bytes = [UInt8](self)
        guard bytes.count >= pattern.count else { return false }
        return (0...(bytes.count - pattern.count)).contains { Array(bytes[$0..<$0 + pattern.count]) == pattern }
    }
}
