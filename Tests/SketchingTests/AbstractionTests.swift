import Foundation
import XCTest
import Models
import Sketching

/// The abstraction settings on their own: resolving them into each part's settings, their
/// validation, and snapshots written before the stroke width was the SVG's.
final class AbstractionTests: XCTestCase {
    func testResolveGivesEachPartItsSettings() {
        var a = Abstraction()
        a.fidelity = 2
        a.strokes = 40
        a.strokeWidth = 5
        a.seed = 9
        let profile = EncoderProfile.of(.efficientNetLite0)
        let (fg, bg) = a.resolve(profile)
        XCTAssertEqual(bg.layers, FidelityLevels.efficientNet[2])
        XCTAssertEqual(bg.halfWidth, 2.5, "the rasteriser's half of the SVG width")
        XCTAssertEqual([fg.strokes, bg.strokes], [40, 40])
        XCTAssertEqual([fg.seed, bg.seed], [10, 9], "the foreground draws from the next seed")
        XCTAssertEqual([fg.gradNorm, bg.gradNorm], [true, false], "GradNorm balances the foreground's blocks")
        XCTAssertEqual(fg.simplicityDivision, SimplicityLevels.foregroundDivision[2])
        XCTAssertEqual(bg.simplicityDivision, SimplicityLevels.backgroundDivision[2])
        // CLIP: the foreground adds block 4 at ½; a raw depth replaces the level's blocks.
        let clip = a.resolve(EncoderProfile.of(.clipViTB32))
        XCTAssertEqual(clip.foreground.layers, LayerWeights([8: 1, 4: 0.5]))
        a.depth = 6
        XCTAssertEqual(a.resolve(profile).background.layers, LayerWeights([6: 1]))
    }

    func testRawDepthsCoverEveryEncoder() {
        XCTAssertEqual(Abstraction.depthRange, 0...15, "CLIP from 0, EfficientNet-Lite0 to 15")
        XCTAssertEqual(EncoderProfile.of(.efficientNetLite0).depthRange, 1...15)
        XCTAssertEqual(EncoderProfile.of(.clipViTB32).depthRange, 0...11)
    }

    func testStrokeWidthIsValidatedAsTheSVGsWidth() {
        var a = Abstraction()
        for bad: Float in [0, -1, 41, .infinity, .nan] {
            a.strokeWidth = bad
            XCTAssertThrowsError(try a.validate(), "\(bad)") { e in
                XCTAssertTrue("\(e)".contains("strokeWidth must be in (0, 40]"), "\(e)")
            }
        }
        a.strokeWidth = 40
        XCTAssertNoThrow(try a.validate())
    }

    /// A snapshot's abstraction from before the width was the SVG's kept the half-width
    /// under `halfWidth`; it reads back as the same strokes.
    func testOlderSnapshotsKeepTheirWidth() throws {
        let old = #"{"fidelity":1,"simplicity":2,"strokes":32,"halfWidth":1.5,"seed":4,"iterations":50,"#
            + #""simplicityIterations":20,"learningRate":0.0001,"augmentations":4}"#
        let a = try JSONDecoder().decode(Abstraction.self, from: Data(old.utf8))
        XCTAssertEqual(a.strokeWidth, 3)
        XCTAssertEqual([a.fidelity, a.simplicity, a.strokes, a.iterations], [1, 2, 32, 50])
        XCTAssertNil(a.depth)
        var b = a
        b.depth = 3
        XCTAssertEqual(try JSONDecoder().decode(Abstraction.self, from: try JSONEncoder().encode(b)), b, "round trip")
        XCTAssertThrowsError(try JSONDecoder().decode(Abstraction.self, from: Data(#"{"fidelity":1}"#.utf8)))
    }
}
