import Foundation
import XCTest
import Imaging

/// The background target's preprocessing: texture goes, structure stays; dark photos are lifted.
final class StructureFilterTests: XCTestCase {
    /// A 64×64 photo: a dark left half and a light right half (the structure), overlaid with a
    /// fine ±0.15 checkerboard (the texture).
    func texturedStep() -> RGBImage {
        var image = RGBImage(width: 64, height: 64)
        for y in 0..<64 {
            for x in 0..<64 {
                let base: Float = x < 32 ? 0.25 : 0.75
                let grain: Float = (x / 2 + y / 2) % 2 == 0 ? 0.15 : -0.15
                for c in 0..<3 { image[c, x, y] = base + grain }
            }
        }
        return image
    }

    /// The spread of one half's samples, away from the step and the border.
    func spread(_ image: RGBImage, columns: Range<Int>) -> Float {
        var values: [Float] = []
        for y in 8..<56 { for x in columns { values.append(image[0, x, y]) } }
        let mean = values.reduce(0, +) / Float(values.count)
        return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
    }

    func testRemovesTextureAndKeepsTheStep() {
        let photo = texturedStep()
        let filtered = StructureFilter().apply(photo)
        // The grain is (almost) gone on both sides…
        XCTAssertGreaterThan(spread(photo, columns: 4..<26), 0.14)
        XCTAssertLessThan(spread(filtered, columns: 4..<26), 0.02)
        XCTAssertLessThan(spread(filtered, columns: 38..<60), 0.02)
        // …and the step is still a step: three pixels either side of it keep ≥ 90 % of the
        // contrast, where a Gaussian blur of the same scale keeps far less.
        func contrast(_ image: RGBImage) -> Float {
            var sum: Float = 0
            for y in 8..<56 { sum += image[0, 35, y] - image[0, 28, y] }
            return sum / 48
        }
        XCTAssertGreaterThan(contrast(filtered), 0.45)
        let plane = photo.planeSize
        let blurred = GrayImage(width: 64, height: 64, pixels: Array(photo.pixels[0..<plane])).gaussianBlurred(sigma: 3)
        var blurredStep: Float = 0
        for y in 8..<56 { blurredStep += blurred[35, y] - blurred[28, y] }
        XCTAssertLessThan(blurredStep / 48, 0.45)
    }

    func testFlatImageAndDisabledFilterAreUnchanged() {
        let grey = RGBImage(width: 20, height: 12, fill: (0.3, 0.5, 0.7))
        let filtered = StructureFilter().apply(grey)
        for (a, b) in zip(filtered.pixels, grey.pixels) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let photo = texturedStep()
        XCTAssertEqual(StructureFilter(spatialSigma: 0).apply(photo), photo)
        XCTAssertEqual(StructureFilter(iterations: 0).apply(photo), photo)
    }

    func testDarkPhotosAreLiftedToTheTargetMedianAndOthersKept() {
        var dark = RGBImage(width: 10, height: 10)
        for i in 0..<100 { for c in 0..<3 { dark.pixels[c * 100 + i] = Float(i) / 99 * 0.3 } }   // median ≈ 0.15
        let balance = ToneBalance()
        let gamma = balance.gamma(for: dark)
        XCTAssertLessThan(gamma, 1)
        let lifted = balance.apply(dark)
        let median = lifted.gray.pixels.sorted()[50]
        XCTAssertEqual(median, balance.liftedMedian, accuracy: 0.01)
        // The order of the tones is kept (a monotone curve): edges stay where they were.
        XCTAssertEqual(lifted.gray.pixels.indices.sorted { lifted.gray.pixels[$0] < lifted.gray.pixels[$1] },
                       dark.gray.pixels.indices.sorted { dark.gray.pixels[$0] < dark.gray.pixels[$1] })
        let light = RGBImage(width: 10, height: 10, fill: (0.6, 0.6, 0.6))
        XCTAssertEqual(balance.gamma(for: light), 1)
        XCTAssertEqual(balance.apply(light), light)
    }
}
