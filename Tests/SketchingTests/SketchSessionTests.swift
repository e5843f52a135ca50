import Foundation
import XCTest
import Imaging
import Models
import Tensors
import Sketching
import Vector
import TestSupport

final class SketchSessionTests: XCTestCase {
    func inputs() throws -> (EfficientNetLite0, RGBImage, GrayImage) {
        let encoder = try requireEncoder()
        let photo = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let m = try ImageFile.decode(path: repoRoot.appendingPathComponent("Tests/Fixtures/bull_mask_u2netp.png").path)
        return (encoder, photo, GrayImage(width: m.width, height: m.height, pixels: Array(m.pixels[0..<m.planeSize])))
    }

    func smallAbstraction() -> Abstraction {
        var a = Abstraction()
        a.strokes = 8
        a.iterations = 3
        a.simplicity = 1
        a.simplicityIterations = 2
        a.seed = 5
        return a
    }

    /// Snapshot → restore → continue draws exactly what an uninterrupted run draws.
    func testSnapshotRestoreContinuesTheSameRun() throws {
        let (encoder, photo, mask) = try inputs()
        let whole = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        XCTAssertEqual(whole.totalSteps, 10)
        whole.step(100)
        XCTAssertTrue(whole.isComplete)

        let first = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        first.step(7)  // stops inside the simplicity level
        let bytes = try first.snapshot()
        let resumed = try SketchSession.restore(bytes, encoder: encoder)
        XCTAssertEqual(resumed.stepsDone, 7)
        resumed.step(100)
        XCTAssertEqual(try resumed.scene.drawing.combinedSVG().xml(), try whole.scene.drawing.combinedSVG().xml())
        XCTAssertEqual(resumed.scene.background.lastLoss, whole.scene.background.lastLoss)
    }

    /// More steps per part continue the run (before or after simplification began) and draw
    /// what a run with the larger schedule from the start draws; fewer fidelity steps restart.
    func testRaisingTheScheduleContinuesTheRun() throws {
        let (encoder, photo, mask) = try inputs()
        var larger = smallAbstraction()
        larger.iterations = 5
        larger.simplicityIterations = 3
        let straight = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: larger)
        straight.step(100)
        let expected = try straight.scene.drawing.combinedSVG().xml()

        // Raised while the second part's fidelity steps run: the first part catches up.
        let early = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        early.step(4)
        XCTAssertEqual(try early.adopt(larger), .continued)
        XCTAssertEqual(early.stepsDone, 4)
        XCTAssertEqual(early.totalSteps, straight.totalSteps)
        early.step(100)
        XCTAssertTrue(early.isComplete)
        XCTAssertEqual(try early.scene.drawing.combinedSVG().xml(), expected)

        // Raised after a simplicity step: back to the end of the fidelity phase, then onwards.
        let late = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        late.step(7)
        XCTAssertEqual(try late.adopt(larger), .rewound)
        XCTAssertEqual(late.stepsDone, 6)
        late.step(100)
        XCTAssertEqual(try late.scene.drawing.combinedSVG().xml(), expected)

        // Fewer fidelity steps cannot be undone: the sketch starts again.
        var fewer = larger
        fewer.iterations = 2
        XCTAssertEqual(try late.adopt(fewer), .restarted)
        XCTAssertEqual(late.stepsDone, 0)
    }

    /// Raising simplicity chains on; lowering it rewinds to the end of the fidelity phase; both
    /// draw what a fresh run straight to that level draws. Other changes restart.
    func testAdoptContinuesRewindsOrRestarts() throws {
        let (encoder, photo, mask) = try inputs()
        var two = smallAbstraction()
        two.simplicity = 2
        let fresh = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: two)
        fresh.step(100)

        let chained = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        chained.step(100)
        XCTAssertEqual(try chained.adopt(two), .continued)
        XCTAssertFalse(chained.isComplete)
        chained.step(100)
        XCTAssertEqual(try chained.scene.drawing.combinedSVG().xml(), try fresh.scene.drawing.combinedSVG().xml())

        // Back to level 1 (already passed): rewinds, and redoing level 1 matches a fresh level-1 run.
        XCTAssertEqual(try chained.adopt(smallAbstraction()), .rewound)
        XCTAssertEqual(chained.stepsDone, chained.levelEnd(0))
        chained.step(100)
        let one = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        one.step(100)
        XCTAssertEqual(try chained.scene.drawing.combinedSVG().xml(), try one.scene.drawing.combinedSVG().xml())

        XCTAssertEqual(try chained.adopt(smallAbstraction()), .unchanged)
        var other = smallAbstraction()
        other.fidelity = 2
        XCTAssertEqual(try chained.adopt(other), .restarted)
        XCTAssertEqual(chained.stepsDone, 0)
        other.depth = 99
        XCTAssertThrowsError(try chained.adopt(other))
    }

    /// A stroke-width change continues the run: a finished drawing is redrawn at once at the
    /// new width (same places); mid-run the steps go on from where they were, a snapshot taken
    /// after the change continues the same way, and a later rewind draws at the new width.
    func testAStrokeWidthChangeContinuesTheRun() throws {
        let (encoder, photo, mask) = try inputs()
        let done = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        done.step(100)
        let before = done.scene.drawing
        var wider = smallAbstraction()
        wider.strokeWidth = 6
        XCTAssertEqual(try done.adopt(wider), .continued)
        XCTAssertTrue(done.isComplete)
        let after = done.scene.drawing
        XCTAssertEqual(after.background.map(\.points), before.background.map(\.points))
        XCTAssertEqual(after.foreground.map(\.points), before.foreground.map(\.points))
        XCTAssertEqual(after.background.map(\.halfWidth), before.background.map { $0.halfWidth * 2 })
        XCTAssertFalse(after.background.isEmpty)

        // Mid-run, inside the simplicity level: no step is lost, and a snapshot continues alike.
        let live = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        live.step(7)
        XCTAssertEqual(try live.adopt(wider), .continued)
        XCTAssertEqual(live.stepsDone, 7)
        let resumed = try SketchSession.restore(try live.snapshot(), encoder: encoder)
        live.step(100)
        resumed.step(100)
        XCTAssertEqual(try resumed.scene.drawing.combinedSVG().xml(), try live.scene.drawing.combinedSVG().xml())
        let fresh = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: wider)
        fresh.step(100)
        XCTAssertNotEqual(try fresh.scene.drawing.combinedSVG().xml(), try live.scene.drawing.combinedSVG().xml(),
                          "a continued run is not a restarted one")

        // Back below the level begun: the fidelity phase's end, saved before the change, draws at the new width.
        var none = wider
        none.simplicity = 0
        XCTAssertEqual(try live.adopt(none), .rewound)
        XCTAssertEqual(Set(live.scene.drawing.background.map(\.halfWidth)), [3])
    }

    /// A copy steps on its own: it draws what the original would, and stepping it leaves the
    /// original where it was.
    func testACopyStepsOnItsOwn() throws {
        let (encoder, photo, mask) = try inputs()
        let original = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        original.step(7)
        func state(_ s: SketchSession) throws -> (svg: String, steps: [Int], networks: [[Float]]) {
            var networks: [[Float]] = []
            for part in s.scene.parts {
                let points = part.pointsNetwork
                networks += [points.mlp.parameters, points.optimiser.m, points.optimiser.v]
                if let widths = part.widthNetwork { networks += [widths.mlp.parameters, widths.optimiser.m, widths.optimiser.v] }
            }
            return (try s.scene.drawing.combinedSVG().xml(), s.scene.parts.map(\.step), networks)
        }
        let before = try state(original)
        let copy = original.copy()
        copy.step(100)
        XCTAssertTrue(copy.isComplete)
        XCTAssertEqual(original.stepsDone, 7)
        let after = try state(original)
        XCTAssertEqual(after.svg, before.svg)
        XCTAssertEqual(after.steps, before.steps)
        XCTAssertTrue(after.networks == before.networks, "stepping the copy left the original's networks alone")
        original.step(100)
        XCTAssertEqual(try copy.scene.drawing.combinedSVG().xml(), try original.scene.drawing.combinedSVG().xml())
        // The copy keeps the fidelity phase's end: it rewinds like the original.
        var none = smallAbstraction()
        none.simplicity = 0
        XCTAssertEqual(try copy.adopt(none), .rewound)
        XCTAssertEqual(try original.adopt(none), .rewound)
        XCTAssertEqual(try copy.scene.drawing.combinedSVG().xml(), try original.scene.drawing.combinedSVG().xml())
    }

    /// A restart that keeps the stroke count and seed reuses the prepared targets and first
    /// strokes, and draws what a session prepared anew draws (fidelity and width here).
    func testARestartReusingThePreparationDrawsWhatANewSessionDraws() throws {
        let (encoder, photo, mask) = try inputs()
        var other = smallAbstraction()
        other.fidelity = 2
        other.strokeWidth = 5
        other.simplicity = 0
        let fresh = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: other)
        fresh.step(100)
        let moved = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        moved.step(100)
        XCTAssertEqual(try moved.adopt(other), .restarted)
        XCTAssertEqual(moved.stepsDone, 0)
        moved.step(100)
        XCTAssertEqual(try moved.scene.drawing.combinedSVG().xml(), try fresh.scene.drawing.combinedSVG().xml())
        let ahead = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction()).startedAgain(at: other)
        ahead.step(100)
        XCTAssertEqual(try ahead.scene.drawing.combinedSVG().xml(), try fresh.scene.drawing.combinedSVG().xml())
    }

    /// Cancellation is checked between rounds, so both parts stop within one step of each other.
    func testCancellationStopsBetweenSteps() throws {
        let (encoder, photo, mask) = try inputs()
        let s = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: smallAbstraction())
        var calls = 0
        let (ran, _) = s.step(10, shouldContinue: { calls += 1; return calls <= 2 })
        XCTAssertEqual(ran, 4)
        XCTAssertEqual(s.stepsDone, 4)
        XCTAssertEqual(s.scene.parts.map(\.step), [2, 2])
    }

    /// The two parts stepping side by side on two threads draw the same bytes as one part after
    /// the other (the reference's order) on one, at every level end and at the end; in between,
    /// each order is where it should be.
    func testPartsSideBySideDrawWhatOneAfterAnotherDraws() throws {
        let (encoder, photo, mask) = try inputs()
        var two = smallAbstraction()
        two.simplicity = 2
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }

        ComputeThreads.set(1)
        let sequential = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: two)
        sequential.partsSideBySide = false
        sequential.step(4)
        XCTAssertEqual(sequential.scene.parts.map(\.step), [3, 1], "one part's fidelity phase, then the other's")
        var expected: [String] = []
        for level in 0...2 {
            sequential.step(sequential.levelEnd(level) - sequential.stepsDone)
            expected.append(try sequential.scene.drawing.combinedSVG().xml())
        }

        ComputeThreads.set(2)
        let sideBySide = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: two)
        XCTAssertTrue(sideBySide.partsSideBySide, "side by side is the default")
        var rounds: [Int] = []
        sideBySide.step(4, onStep: { done, _ in rounds.append(done) })
        XCTAssertEqual(rounds, [2, 4], "a round steps both parts")
        XCTAssertEqual(sideBySide.scene.parts.map(\.step), [2, 2])
        sideBySide.step(3)  // both finish fidelity, then a single step: the foreground enters level 1
        XCTAssertEqual(sideBySide.scene.parts.map(\.step), [4, 3])
        XCTAssertEqual(sideBySide.levelStarted, 1)
        sideBySide.step(1)  // the part behind goes
        XCTAssertEqual(sideBySide.scene.parts.map(\.step), [4, 4])
        var drawn: [String] = []
        for level in 0...2 {
            if sideBySide.stepsDone <= sideBySide.levelEnd(level) {
                sideBySide.step(sideBySide.levelEnd(level) - sideBySide.stepsDone)
                drawn.append(try sideBySide.scene.drawing.combinedSVG().xml())
            }
        }
        XCTAssertEqual(drawn.count, 2, "levels 1 and 2 ended after the checks above")
        XCTAssertEqual(drawn, Array(expected[1...]))
        XCTAssertTrue(sideBySide.isComplete)
        XCTAssertEqual(sideBySide.scene.background.lastLoss, sequential.scene.background.lastLoss)
        XCTAssertEqual(sideBySide.scene.foreground?.lastLoss, sequential.scene.foreground?.lastLoss)
    }

    func testInvalidAbstractionsNameTheRange() throws {
        let (encoder, photo, mask) = try inputs()
        var cases: [(Abstraction, String)] = []
        var a = Abstraction(); a.fidelity = 9; cases.append((a, "fidelity must be 0…3"))
        a = Abstraction(); a.simplicity = -1; cases.append((a, "simplicity must be 0…7"))
        a = Abstraction(); a.strokes = 0; cases.append((a, "strokes must be 1…1024"))
        a = Abstraction(); a.strokeWidth = .nan; cases.append((a, "strokeWidth"))
        a = Abstraction(); a.iterations = 0; cases.append((a, "iterations must be 1…100000"))
        for (abstraction, phrase) in cases {
            XCTAssertThrowsError(try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: abstraction)) {
                XCTAssertTrue("\($0)".contains(phrase), "\($0)")
            }
        }
    }

    func testDamagedSnapshotIsRefused() throws {
        let (encoder, _, _) = try inputs()
        XCTAssertThrowsError(try SketchSession.restore(Data("nonsense".utf8), encoder: encoder)) {
            XCTAssertTrue("\($0)".contains("snapshot"), "\($0)")
        }
    }
}
