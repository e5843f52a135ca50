import CJPEG
import Foundation
import XCTest
import Imaging

final class CMYKTests: XCTestCase {
    /// A CMYK JPEG in the Adobe (inverted) convention decodes to the right RGB.
    func testCMYKJPEG() throws {
        let w = 16, h = 8
        // Left half: pure red ink mix (M+Y); right half: 50% black. Stored inverted (255 = no ink).
        var cmyk = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 4
                let ink: [UInt8] = x < w / 2 ? [0, 255, 255, 0] : [0, 0, 0, 128]
                for c in 0..<4 { cmyk[i + c] = 255 - ink[c] }
            }
        }
        guard let handle = tjInitCompress() else { return XCTFail("TurboJPEG") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = tjCompress2(handle, cmyk, Int32(w), 0, Int32(h), Int32(TJPF_CMYK.rawValue), &out, &size,
                                 Int32(TJSAMP_444.rawValue), 98, 0)
        XCTAssertEqual(status, 0)
        guard let out else { return XCTFail("no output") }
        let data = Data(bytes: out, count: Int(size))
        tjFree(out)
        XCTAssertEqual(try ImageFile.inspect(data: data).channels, 4)
        let img = try ImageFile.decode(data: data)
        XCTAssertEqual(img[0, 2, 4], 1, accuracy: 0.03)
        XCTAssertEqual(img[1, 2, 4], 0, accuracy: 0.03)
        XCTAssertEqual(img[2, 2, 4], 0, accuracy: 0.03)
        for c in 0..<3 { XCTAssertEqual(img[c, 13, 4], 127.0 / 255, accuracy: 0.03) }
    }
}
