import ArgumentParser
import Foundation
import Imaging
import Models
import Tensors

/// The release version, reported by `--version` and (later) the server's `initialize`.
let clipasceneVersion = "0.1.0"

struct CLIPascene: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipascene",
        abstract: "Scene sketching at chosen levels of fidelity and simplicity (CLIPascene), on the CPU.",
        discussion: """
        Weights live in checkpoint/ (run `checkpoint/fetch`); set CLIPASCENE_CHECKPOINTS to use \
        another folder and CLIPASCENE_THREADS to cap the threads used.
        """,
        version: clipasceneVersion,
        subcommands: [Sketch.self, Matrix.self, Serve.self, Batch.self, Inspect.self, Prepare.self, Bench.self])
}

/// Errors meant for a person: printed as they are, exit code 1.
struct UserFacingError: Error, CustomStringConvertible {
    let description: String
}

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

ComputeThreads.apply()
// Before any thread allocates: the heap policy (one arena, no trimming) must come first.
ComputeThreads.keepLargeAllocations()
CLIPascene.main()
