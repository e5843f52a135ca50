import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import TestSupport

/// The engine with the CLIP encoder: a whole sketch from a CLIP weight file in the official
/// format (the tiny random one the fixture script made: shape and plumbing, the drawing
/// means nothing), and the error a user sees without the real file.
final class CLIPEncoderTests: XCTestCase {
    func tinyCLIP() throws -> CLIPVisual {
        try CLIPVisual(path: repoRoot.appendingPathComponent("Tests/Fixtures/clip_tiny.pt").path, heads: 2)
    }

    /// A 80×60 scene with a dark disc as the subject: the canvas (64×48) is framed into the
    /// tiny tower's 64² input.
    func scene() -> (RGBImage, GrayImage) {
        let w = 80, h = 60
        var photo = RGBImage(width: w, height: h)
        var mask = GrayImage(width: w, height: h, value: 0)
        for y in 0..<h {
            for x in 0..<w {
                let inside = (x - 50) * (x - 50) + (y - 30) * (y - 30) < 15 * 15
                let shade: Float = inside ? 0.2 : (y < 20 ? 0.9 : 0.55 + 0.3 * Float(x % 16) / 16)
                for c in 0..<3 { photo.pixels[c * w * h + y * w + x] = shade }
                if inside { mask.pixels[y * w + x] = 1 }
            }
        }
        return (photo, mask)
    }

    func testAWholeSketchRunsThroughCLIP() throws {
        let clip = try tinyCLIP()
        let (photo, mask) = scene()
        var a = Abstraction()
        a.strokes = 6
        a.iterations = 3
        a.simplicity = 1
        a.simplicityIterations = 2
        a.depth = 0
        let session = try SketchSession(photo: photo, subjectMask: mask, encoder: clip, abstraction: a)
        XCTAssertEqual(session.encoder.name, "clip-vit-b32")
        XCTAssertEqual([session.scene.canvasWidth, session.scene.canvasHeight], [64, 48])
        XCTAssertEqual(session.scene.parts.count, 2)
        let before = session.scene.parts.map(\.currentStrokes)
        session.step(100)
        XCTAssertTrue(session.isComplete)
        XCTAssertTrue(session.scene.parts.allSatisfy { $0.lastLoss.isFinite && $0.lastLoss >= 0 })
        XCTAssertNotEqual(session.scene.parts.map(\.currentStrokes), before, "the strokes moved")
        let svg = try session.scene.drawing.combinedSVG().xml()
        XCTAssertTrue(svg.contains("<path"))
        // The snapshot remembers its encoder.
        let bytes = try session.snapshot()
        XCTAssertEqual(try SketchSession.encoderName(inSnapshot: bytes), "clip-vit-b32")
        XCTAssertEqual(try SketchSession.restore(bytes, encoder: clip).stepsDone, session.stepsDone)
    }

    func testRawDepthsFollowTheEncoder() throws {
        let clip = try tinyCLIP()
        let (photo, mask) = scene()
        var a = Abstraction()
        a.depth = 3
        a.iterations = 1
        XCTAssertThrowsError(try SketchSession(photo: photo, subjectMask: mask, encoder: clip, abstraction: a)) { error in
            XCTAssertEqual("\(error)", "depth must be an encoder block in 0…2, got 3")
        }
        XCTAssertEqual(EncoderProfile.of(clip).fidelityLevels.map(\.deepest), [2, 2, 2, 2], "blocks 2, 7, 8, 11 clamp to a 3-block tower")
        XCTAssertEqual(EncoderProfile.of(clip).foregroundLayers(LayerWeights([1: 1])).weights, [1: 1, 2: 0.5])
    }

    func testWithoutTheWeightFileTheErrorSaysWhereToGetIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clip-missing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("checkpoint/manifest.json"),
                                         to: dir.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try PerceptionModels.loadEncoder(named: "clip-vit-b32", checkpoints: dir.path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(dir.appendingPathComponent("clip/ViT-B-32.pt").path), text)
            XCTAssertTrue(text.contains("https://openaipublic.azureedge.net/clip/models/"), text)
            XCTAssertTrue(text.contains("40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"), text)
            XCTAssertTrue(text.contains("354 MB"), text)
            XCTAssertTrue(text.contains("checkpoint/fetch clip"), text)
        }
        XCTAssertThrowsError(try PerceptionModels.loadEncoder(named: "vgg16", checkpoints: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("clip-vit-b32"), "\(error)")
        }
    }
}
