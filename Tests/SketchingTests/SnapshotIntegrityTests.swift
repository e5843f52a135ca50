import Foundation
import XCTest
import Imaging
import Models
import Sketching
import TestSupport

/// Damaged and hostile snapshot files are errors that say what is wrong, never traps, and
/// never a session that restores with garbage in it.
final class SnapshotIntegrityTests: XCTestCase {
    static let snapshot: (data: Data, encoder: EfficientNetLite0)? = {
        guard let encoder = sharedEncoder,
              let photo = try? ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path) else { return nil }
        var a = Abstraction()
        a.strokes = 4
        a.iterations = 2
        a.simplicity = 1
        a.simplicityIterations = 1
        guard let session = try? SketchSession(photo: photo, subjectMask: GrayImage(width: photo.width, height: photo.height, value: 0),
                                               encoder: encoder, abstraction: a) else { return nil }
        session.step(3)  // no subject: one part, 2 fidelity + 1 simplicity step
        guard let data = try? session.snapshot() else { return nil }
        return (data, encoder)
    }()

    func fixture() throws -> (Data, EfficientNetLite0) {
        guard let s = Self.snapshot else { throw missing("the weights are missing: run checkpoint/fetch") }
        return s
    }

    /// The header JSON and where the blobs start.
    func parts(_ data: Data) -> (header: String, blobs: Data) {
        let bytes = [UInt8](data)
        let length = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        return (String(decoding: bytes[16..<(16 + length)], as: UTF8.self), Data(bytes[(16 + length)...]))
    }

    /// A well-formed version-2 file (right length, right checksum) around `header` and `blobs`.
    func assemble(_ header: String, _ blobs: Data) -> Data {
        let json = Array(header.utf8)
        var body = json + [UInt8](blobs)
        let checksum = body.withUnsafeBytes { CRC32.checksum($0) }
        body = Array("CLPSNAP2".utf8) + le32(UInt32(json.count)) + le32(checksum) + body
        return Data(body)
    }

    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

    func assertRefused(_ data: Data, _ needle: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (_, encoder) = try fixture()
        do {
            _ = try SketchSession.restore(data, encoder: encoder)
            XCTFail("restored a bad snapshot", file: file, line: line)
        } catch let e as SnapshotError {
            XCTAssertTrue(e.description.contains(needle), "\(e.description) does not say \(needle)", file: file, line: line)
        }
    }

    func testUntouchedSnapshotRestores() throws {
        let (data, encoder) = try fixture()
        XCTAssertEqual(Array(data.prefix(8)), Array("CLPSNAP2".utf8))
        XCTAssertEqual(try SketchSession.restore(data, encoder: encoder).stepsDone, 3)
        // Re-assembling the same parts gives the same bytes (the helpers below are faithful).
        let (header, blobs) = parts(data)
        XCTAssertEqual(assemble(header, blobs), data)
    }

    func testAnyChangedByteIsCaughtByTheChecksum() throws {
        let (data, _) = try fixture()
        var bytes = [UInt8](data)
        // 64 random bytes written into the network weights near the end.
        var rng = SystemRandomNumberGenerator()
        for i in (bytes.count - 1000)..<(bytes.count - 936) { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        try assertRefused(Data(bytes), "checksum")
        // One byte of a blob count.
        var one = [UInt8](data)
        one[16 + parts(data).header.utf8.count + 7] ^= 0x40
        try assertRefused(Data(one), "checksum")
    }

    func testCountsAreCheckedAgainstTheBytesLeft() throws {
        let (data, _) = try fixture()
        let (header, blobs) = parts(data)
        // A blob count of 2⁶² (4 × count overflows Int) with a valid checksum.
        var b = [UInt8](blobs)
        b[7] = 0x40
        try assertRefused(assemble(header, Data(b)), "claims")
        // A header length beyond the file.
        var long = [UInt8](assemble(header, blobs))
        long[11] = 0x7F
        let checksum = long[16...].withUnsafeBytes { CRC32.checksum($0) }
        long.replaceSubrange(12..<16, with: le32(checksum))
        try assertRefused(Data(long), "header claims")
        // Cut short anywhere: an error every time.
        for cut in [0, 5, 11, 15, 16, 40, data.count / 3, data.count - 3] {
            let (_, encoder) = try fixture()
            XCTAssertThrowsError(try SketchSession.restore(data.prefix(cut), encoder: encoder), "cut at \(cut)")
        }
    }

    func testHeaderFieldsAreRangeChecked() throws {
        let (data, _) = try fixture()
        let (header, blobs) = parts(data)
        XCTAssertTrue(header.contains("\"stepsDone\":3"), header)
        for bad in ["-100", "1000000000000000", "4"] {
            try assertRefused(assemble(header.replacingOccurrences(of: "\"stepsDone\":3", with: "\"stepsDone\":\(bad)"), blobs),
                              "steps were done")
        }
        try assertRefused(assemble(header.replacingOccurrences(of: "\"strokes\":4", with: "\"strokes\":-1"), blobs), "abstraction")
        try assertRefused(assemble(header.replacingOccurrences(of: "\"version\":1", with: "\"version\":7"), blobs), "version 7")
    }

    func testVersionOneFilesStillRestore() throws {
        let (data, encoder) = try fixture()
        let (header, blobs) = parts(data)
        let json = Array(header.utf8)
        let v1 = Data(Array("CLPSNAP1".utf8) + le32(UInt32(json.count)) + json + [UInt8](blobs))
        XCTAssertEqual(try SketchSession.restore(v1, encoder: encoder).stepsDone, 3)
    }

    func testCRC32KnownValues() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        // Every length around the eight-byte rounds agrees with the bytewise definition.
        var bytes: [UInt8] = []
        for n in 0..<40 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            XCTAssertEqual(CRC32.checksum(bytes), ~c, "length \(n)")
            bytes.append(UInt8(truncatingIfNeeded: n &* 37 &+ 11))
        }
    }
}
