import ArgumentParser
import Foundation
import Imaging
import Models
import Tensors

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one JSON object describing an image file and the state of the weights.")

    @Argument(help: "A PNG or JPEG file (the format is read from its content, not its name).")
    var path: String

    @Option(help: "Largest accepted width × height.")
    var maxPixels: Int = ImageFile.defaultMaxPixels

    func run() throws {
        let info: ImageInfo
        do {
            info = try ImageFile.inspect(path: path)
            try ImageFile.checkSize(info, name: path, maxPixels: maxPixels)
            // Decode too: a header can be fine while the pixel data is truncated.
            _ = try ImageFile.decode(path: path, maxPixels: maxPixels, maxSide: ImageFile.workingMaxSide)
        } catch let error as ImageError {
            throw UserFacingError(description: error.description)
        }
        var checkpoints: [String: String] = [:]
        var defaultsReady = false
        var checkpointDir: String? = nil
        if let store = try? CheckpointStore.locate() {
            checkpointDir = store.directory
            defaultsReady = true
            for entry in store.manifest.models {
                let status = store.status(of: entry)
                checkpoints[entry.name] = status.rawValue
                if entry.default && status != .valid { defaultsReady = false }
            }
        }
        let report = InspectReport(path: path, format: info.format.rawValue, width: info.width, height: info.height,
                                   channels: info.channels, bitDepth: info.bitDepth, exifOrientation: info.orientation,
                                   checkpointDirectory: checkpointDir, checkpoints: checkpoints,
                                   defaultCheckpointsReady: defaultsReady)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(report)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}

struct InspectReport: Codable {
    var path: String
    var format: String
    var width: Int
    var height: Int
    var channels: Int
    var bitDepth: Int
    var exifOrientation: Int
    var checkpointDirectory: String?
    var checkpoints: [String: String]
    var defaultCheckpointsReady: Bool
}
