import Foundation
import XCTest
import Imaging
import Models
import TestSupport

final class SubjectMaskTests: XCTestCase {
    func masker() throws -> SubjectMasker {
        let path = repoRoot.appendingPathComponent("checkpoint/u2netp/u2netp.onnx").path
        guard FileManager.default.fileExists(atPath: path) else { throw missing("the weights are missing: run checkpoint/fetch") }
        return try SubjectMasker(path: path)
    }

    /// The mask of the bull covers the animal: IoU ≥ 0.9 against onnxruntime's
    /// (scripts/fixtures/u2netp_mask.py).
    func testBullMaskMatchesReferenceRuntime() throws {
        let bull = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let start = Date()
        let mask = try masker().mask(bull)
        let seconds = Date().timeIntervalSince(start)
        let reference = try ImageFile.decode(path: repoRoot.appendingPathComponent("Tests/Fixtures/bull_mask_u2netp.png").path)
        XCTAssertEqual(mask.width, 500)
        XCTAssertEqual(mask.height, 500)
        var inter = 0, union = 0
        for i in mask.pixels.indices {
            let a = mask.pixels[i] >= 0.5, b = reference.pixels[i] >= 0.5
            if a && b { inter += 1 }
            if a || b { union += 1 }
        }
        let iou = Double(inter) / Double(max(1, union))
        XCTAssertGreaterThanOrEqual(iou, 0.9, "IoU \(iou)")
        XCTAssertGreaterThan(mask.coverage, 0.15, "the bull fills a good part of the photo")
        print("u2netp mask of bull.jpg: IoU \(iou) with onnxruntime, \(String(format: "%.2f", seconds)) s")
    }

    func testDamagedModelFileGivesAClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Data(contentsOf: repoRoot.appendingPathComponent("checkpoint/u2netp/u2netp.onnx"))
        let cut = dir.appendingPathComponent("cut.onnx")
        try original.prefix(original.count / 2).write(to: cut)
        XCTAssertThrowsError(try SubjectMasker(path: cut.path)) { error in
            XCTAssertTrue("\(error)".contains("cut.onnx"), "\(error)")
        }
        let junk = dir.appendingPathComponent("junk.onnx")
        try Data("this is not a model".utf8).write(to: junk)
        XCTAssertThrowsError(try SubjectMasker(path: junk.path)) { XCTAssertTrue("\($0)".contains("junk.onnx")) }
    }
}

final class TorchReaderTests: XCTestCase {
    func testDamagedCheckpointsGiveClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Data(contentsOf: repoRoot.appendingPathComponent("checkpoint/efficientnet-lite0/efficientnet-lite0-57934424.pth"))
        for (name, data) in [("cut.pth", original.prefix(original.count - 1000)), ("head.pth", original.prefix(300)),
                             ("text.pth", Data("hello".utf8))] {
            let url = dir.appendingPathComponent(name)
            try data.write(to: url)
            XCTAssertThrowsError(try TorchCheckpoint(path: url.path), name) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }

    func testReadsTheEncoderStateDict() throws {
        let ck = try TorchCheckpoint(path: repoRoot.appendingPathComponent("checkpoint/efficientnet-lite0/efficientnet-lite0-57934424.pth").path)
        XCTAssertEqual(ck.names.count, 296)
        XCTAssertEqual(ck["_conv_stem.weight"]?.shape, [32, 3, 3, 3])
        XCTAssertEqual(ck["_fc.weight"]?.shape, [1000, 1280])
        XCTAssertThrowsError(try ck.tensor("_fc.weight", shape: [10])) { XCTAssertTrue("\($0)".contains("expected [10]")) }
    }
}

final class SaliencyTests: XCTestCase {
    /// The default encoder's saliency of the bull is strongest on the animal.
    func testBullSaliencyPeaksOnTheSubject() throws {
        let net = try requireEncoder()
        let bull = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let map = Saliency.map(bull, encoder: net)
        XCTAssertEqual(map.width, 500)
        XCTAssertEqual(map.pixels.max() ?? 0, 1, accuracy: 1e-5)
        XCTAssertEqual(map.pixels.min() ?? 1, 0, accuracy: 1e-5)
        let reference = try ImageFile.decode(path: repoRoot.appendingPathComponent("Tests/Fixtures/bull_mask_u2netp.png").path)
        // Mean saliency inside the subject is well above the mean outside it.
        var inside: Float = 0, outside: Float = 0, nIn: Float = 0, nOut: Float = 0
        for i in map.pixels.indices {
            if reference.pixels[i] >= 0.5 { inside += map.pixels[i]; nIn += 1 } else { outside += map.pixels[i]; nOut += 1 }
        }
        XCTAssertGreaterThan(inside / nIn, 2 * outside / nOut)
    }
}
