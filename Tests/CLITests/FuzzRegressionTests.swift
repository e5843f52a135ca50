import Foundation
import XCTest
import TestSupport

/// Every committed fuzz seed and every input that ever crashed a fuzz target
/// (Fuzz/regressions/TARGET/) goes through its parser once more: a trap fails the test.
final class FuzzRegressionTests: XCTestCase {
    static let targets = ["message", "image", "svg", "pickle", "onnx", "snapshot", "manifest"]

    func testSeedsAndPastCrashesRunCleanly() throws {
        let binary = URL(fileURLWithPath: try clipasceneBinary()).deletingLastPathComponent().appendingPathComponent("clipascene-fuzz").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return XCTFail("\(binary) is missing: `swift build -c release` builds it")
        }
        for target in Self.targets {
            let folders = ["seeds", "regressions"].map { repoRoot.appendingPathComponent("Fuzz/\($0)/\(target)").path }
            XCTAssertTrue(FileManager.default.fileExists(atPath: folders[0]), "no seeds for \(target)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = [target] + folders
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(target): \(text)")
            XCTAssertTrue(text.contains("\(target): ") && text.contains("no crash"), text)
        }
    }
}
