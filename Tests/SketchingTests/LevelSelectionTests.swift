import Foundation
import XCTest
import Imaging
import Models
import Sketching
import Vector
import TestSupport

/// The reference's choice of a simplicity level's drawing: four evaluations, z-scores summed, argmin.
final class LevelSelectionTests: XCTestCase {
    func testEvaluationStepsAreTheQuarters() {
        XCTAssertEqual((1...100).filter { LevelSelection.isEvaluation(step: $0, of: 100) }, [25, 50, 75, 100])
        XCTAssertEqual((1...401).filter { LevelSelection.isEvaluation(step: $0, of: 401) }, [100, 200, 300, 401])
        XCTAssertEqual((1...3).filter { LevelSelection.isEvaluation(step: $0, of: 3) }, [1, 2, 3])
        XCTAssertEqual((1...1).filter { LevelSelection.isEvaluation(step: $0, of: 1) }, [1])
        XCTAssertFalse(LevelSelection.isEvaluation(step: 0, of: 100))
        XCTAssertFalse(LevelSelection.isEvaluation(step: 101, of: 100))
    }

    /// Worked by hand: the perceptual loss rises (z −0.99, −0.55, −0.11, 1.65) as the width loss
    /// falls (z 1.72, −0.38, −0.64, −0.70); the sums are 0.73, −0.93, −0.75, 0.95, so the second
    /// evaluation wins, neither the first (widest) nor the last (sparsest).
    func testSummedZScoresChooseTheBalance() {
        let series: [[Float]] = [[1.0, 0.9], [1.1, 0.5], [1.2, 0.45], [1.6, 0.44]]
        XCTAssertEqual(LevelSelection.choose(series), 1)
        // Scaling a series (a block's weight) changes nothing; a flat series adds nothing.
        XCTAssertEqual(LevelSelection.choose(series.map { [$0[0] * 7, $0[1], 0.3] }), 1)
        // Only the width moving: the sparsest evaluation; nothing moving: the first.
        XCTAssertEqual(LevelSelection.choose([[1, 0.9], [1, 0.5], [1, 0.45], [1, 0.44]]), 3)
        XCTAssertEqual(LevelSelection.choose([[1, 1], [1, 1], [1, 1]]), 0)
        XCTAssertEqual(LevelSelection.choose([[2, 3]]), 0)
        XCTAssertEqual(LevelSelection.choose([]), 0)
    }

    /// A real session: the drawing a level ends with is the one its evaluations chose, judged
    /// from what the part showed and measured at each evaluation step.
    func testALevelEndsOnTheChosenEvaluation() throws {
        let encoder = try requireEncoder()
        let photo = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        var a = Abstraction()
        a.strokes = 12
        a.iterations = 4
        a.simplicity = 1
        a.simplicityIterations = 8
        a.augmentations = 1
        a.seed = 3
        let session = try SketchSession(photo: photo, subjectMask: GrayImage(width: photo.width, height: photo.height, value: 0),
                                        encoder: encoder, abstraction: a)
        let part = session.scene.background
        XCTAssertNil(session.scene.foreground)
        session.step(a.iterations)
        var drawings: [[Stroke]] = [], series: [[Float]] = []
        for k in 1...a.simplicityIterations {
            let before = part.outputStrokes
            session.step(1)
            if LevelSelection.isEvaluation(step: k, of: a.simplicityIterations) {
                drawings.append(before)
                series.append(part.lastBlockLosses + [try XCTUnwrap(part.meanKeepProbability)])
            }
        }
        XCTAssertTrue(session.isComplete)
        XCTAssertEqual(drawings.count, 4)
        XCTAssertEqual(series.map(\.count), [3, 3, 3, 3], "two blocks and the width")
        XCTAssertEqual(part.outputStrokes, drawings[LevelSelection.choose(series)])
    }
}
