import JSONRPC
import ArgumentParser
import Foundation
import Imaging
import Models
import Server
import Sketching
import Tensors

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sketch every image of a JSON Lines manifest, resumably, optionally as one shard of N.",
        discussion: """
        Each manifest line is an object: {"image": PATH, "id": NAME, "strokes": 64, "fidelity": 0, \
        "simplicity": 0, "iterations": 200, "simplicityIterations": 100, "seed": 0, "depth": N, \
        "strokeWidth": 3, "learningRate": 0.0001, "augmentations": 4, \
        "mask": "auto"|"none"|PATH, "background": "auto"|PATH, "encoder": NAME, "matrix": false} ("numPaths" \
        and "paths" are older spellings of "strokes"; the settings are checked as the server checks them); only "image" is \
        required, relative paths are taken from the manifest's folder. Each item is written to \
        OUT/<id>/ by a rename, so it appears whole or not at all; a rerun skips finished items. \
        Failed items get OUT/<id>/error.json and the batch goes on. Exit code 1 if any item failed.
        """)

    @Argument(help: "The manifest (JSON Lines).")
    var manifest: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Run shard I of N (0-based), e.g. 0/4; items are assigned by a hash of their id.")
    var shard: String = "0/1"

    @Option(help: "Threads for this process (several shards on one machine: one each).")
    var threads: Int?

    func parsedShard() throws -> (index: Int, count: Int) {
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (0..<n).contains(i) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        return (i, n)
    }

    func validate() throws {
        _ = try parsedShard()
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1…256, got \(threads)") }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        let (shardIndex, shardCount) = try parsedShard()
        let bytes: Data
        do { bytes = try ImageFile.readBytes(path: manifest) } catch let e as ImageError {
            throw UserFacingError(description: "the manifest \(e.description)")
        }
        guard let text = String(data: bytes, encoding: .utf8) else {
            throw UserFacingError(description: "\(manifest): the manifest is not UTF-8 text; it must be JSON Lines, one JSON object per line")
        }
        let base = URL(fileURLWithPath: manifest).deletingLastPathComponent()
        let items = BatchItem.parse(manifest: text, base: base)
        let mine = items.filter { BatchItem.shard(of: $0.id, count: shardCount) == shardIndex }
        try AtomicFile.prepareFolder(out, files: ["summary-\(shardIndex)-of-\(shardCount).jsonl"])
        // A killed run of this shard may have left half-written items under temporary names.
        let myIDs = Set(mine.map(\.id))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] where name.hasPrefix(".tmp-") {
            let body = name.dropFirst(".tmp-".count)
            if let dash = body.lastIndex(of: "-"), myIDs.contains(String(body[..<dash])) {
                try? FileManager.default.removeItem(atPath: "\(out)/\(name)")
            }
        }
        let summaryPath = "\(out)/summary-\(shardIndex)-of-\(shardCount).jsonl"
        var summary: [String] = []
        var failed = 0
        // Loaded on first use, per encoder name (most manifests use one).
        var models: [String: (encoder: any PerceptualEncoder, masker: SubjectMasker)] = [:]
        let started = Date()
        for (k, item) in mine.enumerated() {
            let dir = "\(out)/\(item.id)"
            var record: [String: Any] = ["id": item.id, "shard": shardIndex]
            let t0 = Date()
            if let done = BatchItem.completed(dir) {
                record["status"] = "ok"
                record["reused"] = true
                record["seconds"] = done["seconds"] ?? 0
                record["loss"] = done["loss"] ?? NSNull()
            } else {
                do {
                    if let problem = item.problem { throw UserFacingError(description: problem) }
                    let loaded = try models[item.encoder] ?? loadModels(encoder: item.encoder)
                    models[item.encoder] = loaded
                    let loss = try item.run(into: dir, models: loaded)
                    record["status"] = "ok"
                    record["seconds"] = Date().timeIntervalSince(t0)
                    record["loss"] = loss.isFinite ? Double(loss) : NSNull()
                } catch {
                    failed += 1
                    let message = "\(error)"
                    record["status"] = "failed"
                    record["error"] = message
                    record["seconds"] = Date().timeIntervalSince(t0)
                    // The error record is best effort: one item's folder must never stop the shard.
                    do {
                        try BatchItem.publish(dir) { tmp in
                            try BatchItem.json(["id": item.id, "line": item.line, "error": message]).write(to: URL(fileURLWithPath: "\(tmp)/error.json"))
                        }
                    } catch {
                        FileHandle.standardError.write(Data("batch: the error record of \(item.id) could not be written: \(error)\n".utf8))
                    }
                }
            }
            summary.append(String(decoding: try BatchItem.json(record), as: UTF8.self))
            try AtomicFile.write(Data((summary.joined(separator: "\n") + "\n").utf8), to: summaryPath)
            let elapsed = Date().timeIntervalSince(started)
            let eta = elapsed / Double(k + 1) * Double(mine.count - k - 1)
            FileHandle.standardError.write(Data(String(format: "[%d/%d] %@: %@  (%.1f s; ETA %.0f s)\n", k + 1, mine.count,
                                                       item.id, record["status"] as? String ?? "?",
                                                       Date().timeIntervalSince(t0), eta).utf8))
        }
        FileHandle.standardError.write(Data("shard \(shardIndex)/\(shardCount): \(mine.count) items, \(failed) failed; summary in \(summaryPath)\n".utf8))
        if failed > 0 { throw ExitCode(1) }
    }
}

extension BatchItem {
    /// The finished item's record, or nil if `dir` is not a finished item.
    static func completed(_ dir: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: "\(dir)/done.json") else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func json(_ o: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// Fills a temporary folder beside `dir`, then renames it into place (replacing an earlier
    /// failed attempt), so readers see a whole item or none.
    static func publish(_ dir: String, _ fill: (String) throws -> Void) throws {
        let fm = FileManager.default
        let tmp = (dir as NSString).deletingLastPathComponent + "/.tmp-\((dir as NSString).lastPathComponent)-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        do { try fill(tmp) } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        if fm.fileExists(atPath: dir) { try fm.removeItem(atPath: dir) }
        guard rename(tmp, dir) == 0 else {
            throw UserFacingError(description: "could not move \(tmp) to \(dir): \(String(cString: strerror(errno)))")
        }
    }

    /// Sketches the item into `dir`; returns the final loss.
    func run(into dir: String, models: (encoder: any PerceptualEncoder, masker: SubjectMasker)) throws -> Float {
        let started = Date()
        let photo = try loadPhoto(image)
        let maskImage: GrayImage
        let backgroundImage: RGBImage?
        do {
            maskImage = try MaskSource(mask).mask(for: photo, masker: models.masker)
            backgroundImage = try BackgroundSource(background).image()
        } catch let e as ImageError { throw UserFacingError(description: e.description) }
        var loss = Float.nan
        try Self.publish(dir) { tmp in
            if matrix {
                let m = try AbstractionMatrix(fidelities: [0, 1, 2, 3], simplicities: [0, 2, 4, 6], base: abstraction)
                let cells = try m.run(photo: photo, subjectMask: maskImage, background: backgroundImage, encoder: models.encoder,
                                      onStep: { _, _, l in loss = l }, onCell: { cell in
                    try cell.drawing.combinedSVG().write(to: "\(tmp)/\(cell.fileName)")
                })
                try ImageFile.writePNG(m.contactSheet(cells), to: "\(tmp)/\(AbstractionMatrix.contactSheetName)")
            } else {
                let session = try SketchSession(photo: photo, subjectMask: maskImage, background: backgroundImage,
                                                encoder: models.encoder, abstraction: abstraction)
                loss = session.step(session.totalSteps).loss
                try writeSketchFiles(session.scene.drawing, mask: maskImage, to: tmp)
            }
            // Written last: its presence is what marks the item finished.
            try Self.json(["id": id, "seconds": Date().timeIntervalSince(started),
                           "loss": loss.isFinite ? Double(loss) : NSNull()]).write(to: URL(fileURLWithPath: "\(tmp)/done.json"))
        }
        return loss
    }
}
