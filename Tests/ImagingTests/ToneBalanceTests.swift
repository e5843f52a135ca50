import Foundation
import XCTest
import Imaging

/// Dark photos are lifted before they become targets (docs/algorithm.md §1); others are kept.
final class ToneBalanceTests: XCTestCase {
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
