import Foundation
import Imaging
import TestSupport

/// One run of the built `clipascene` with its exit status and both streams.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCLI(_ args: [String]) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try clipasceneBinary())
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
}

/// A small photo the benches can sketch quickly: a dark box on a light ground, `box.png` in `dir`.
func writeBoxPhoto(in dir: URL) throws -> String {
    var image = RGBImage(width: 64, height: 48)
    for y in 0..<48 { for x in 0..<64 { for c in 0..<3 { image[c, x, y] = abs(x - 32) < 12 && abs(y - 24) < 10 ? 0.1 : 0.9 } } }
    let photo = dir.appendingPathComponent("box.png").path
    try ImageFile.writePNG(image, to: photo)
    return photo
}
