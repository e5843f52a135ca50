import Foundation
import XCTest
import Imaging
import Models
import Tensors

/// The default encoder, shared by the tests (loading takes a moment).
let sharedEncoder: EfficientNetLite0? = {
    let path = repoRoot.appendingPathComponent("checkpoint/efficientnet-lite0/efficientnet-lite0-57934424.pth").path
    return try? EfficientNetLite0(path: path)
}()

func loadEncoder() throws -> EfficientNetLite0 {
    guard let e = sharedEncoder else {
        throw XCTSkip("EfficientNet-Lite0 weights are missing: run checkpoint/fetch (make test does)")
    }
    return e
}

/// The reference preprocessing of the spec: bicubic 224×224, (x·255 − 127.5) / 128.
func referenceInput(_ image: RGBImage) -> FeatureMap {
    let small = image.resized(width: 224, height: 224)
    let values = small.pixels.map { (min(1, max(0, $0)) * 255 - 127.5) / 128 }
    return FeatureMap(channels: 3, batch: 1, height: 224, width: 224, data: values)
}

final class EfficientNetTests: XCTestCase {
    func testClassifiesTheBullAsAnOx() throws {
        let net = try loadEncoder()
        let bull = try ImageFile.decode(path: repoRoot.appendingPathComponent("examples/bull.jpg").path)
        let probs = net.classify(referenceInput(bull))
        let top = probs.indices.max { probs[$0] < probs[$1] }
        XCTAssertEqual(top, 345, "ImageNet class 345 is 'ox'")
        XCTAssertEqual(probs[345], 0.908, accuracy: 0.01)
    }
}
