import Foundation
import Imaging
import Models
import Vector

/// The abstraction a session draws at, with the run's schedule.
public struct Abstraction: Codable, Sendable, Equatable {
    public var fidelity = 0
    public var simplicity = 0
    public var strokes = 64
    public var halfWidth: Float = 1.5
    public var seed: UInt64 = 0
    /// Fidelity steps per part.
    public var iterations = 200
    /// Steps per part for each simplicity level.
    public var simplicityIterations = 100
    /// Adam learning rate of the points MLP (the reference's 1e-4).
    public var learningRate: Float = 1e-4
    /// Augmented views per step (the reference's 4).
    public var augmentations = 4

    public init() {}

    /// Throws an error that names the valid range of the first bad value.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw AbstractionError(message) } }
        try check((0...3).contains(fidelity), "fidelity must be 0…3, got \(fidelity)")
        try check((0...SimplicityLevels.maximum).contains(simplicity),
                  "simplicity must be 0…\(SimplicityLevels.maximum), got \(simplicity)")
        try check((1...1024).contains(strokes), "strokes must be 1…1024, got \(strokes)")
        try check(halfWidth > 0 && halfWidth <= 20 && halfWidth.isFinite, "strokeWidth (half-width) must be in (0, 20], got \(halfWidth)")
        try check((1...100_000).contains(iterations), "iterations must be 1…100000, got \(iterations)")
        try check((1...100_000).contains(simplicityIterations), "simplicityIterations must be 1…100000, got \(simplicityIterations)")
        try check(learningRate > 0 && learningRate <= 1 && learningRate.isFinite, "learningRate must be in (0, 1], got \(learningRate)")
        try check((0...16).contains(augmentations), "augmentations must be 0…16, got \(augmentations)")
    }

    var partSettings: PartSettings {
        var s = PartSettings()
        s.strokes = strokes
        s.halfWidth = halfWidth
        s.layers = FidelityLevels.efficientNet[fidelity]
        s.seed = seed
        s.learningRate = learningRate
        s.augmentations = augmentations
        return s
    }
}

public struct AbstractionError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// One document's sketch, run incrementally: load → step(n) → SVG at any time, and a snapshot
/// of the whole state that restores to continue exactly where it stopped.
public final class SketchSession: @unchecked Sendable {
    public let photo: RGBImage
    public let subjectMask: GrayImage
    public let abstraction: Abstraction
    public let scene: SceneSketch
    public private(set) var stepsDone = 0

    public init(photo: RGBImage, subjectMask: GrayImage, encoder: EfficientNetLite0, abstraction: Abstraction) throws {
        try abstraction.validate()
        self.photo = photo
        self.subjectMask = subjectMask
        self.abstraction = abstraction
        scene = SceneSketch(photo: photo, subjectMask: subjectMask, encoder: encoder, settings: abstraction.partSettings)
    }

    /// All steps of the schedule: fidelity for each part, then each simplicity level for each part.
    public var totalSteps: Int {
        scene.parts.count * (abstraction.iterations + abstraction.simplicity * abstraction.simplicityIterations)
    }

    public var isComplete: Bool { stepsDone >= totalSteps }

    /// Where step number `k` falls: (simplicity level, part index).
    func position(_ k: Int) -> (level: Int, part: Int) {
        let parts = scene.parts.count
        let fidelitySteps = parts * abstraction.iterations
        if k < fidelitySteps { return (0, k / abstraction.iterations) }
        let r = k - fidelitySteps
        let perLevel = parts * abstraction.simplicityIterations
        return (1 + r / perLevel, (r % perLevel) / abstraction.simplicityIterations)
    }

    /// Runs up to `count` steps of the schedule, stopping early when `shouldContinue` says so
    /// (checked between steps). Returns the steps run and the latest loss.
    @discardableResult
    public func step(_ count: Int, shouldContinue: () -> Bool = { true },
                     onStep: (Int, Float) -> Void = { _, _ in }) -> (steps: Int, loss: Float) {
        var ran = 0
        var loss = Float.nan
        while ran < count && !isComplete && shouldContinue() {
            let (level, partIndex) = position(stepsDone)
            let part = scene.parts[partIndex]
            // Entering a simplicity level: both parts move to it together, once.
            if level > 0 && stepsDone == levelStart(level) {
                scene.beginSimplicity(level: level, fidelity: abstraction.fidelity)
            }
            loss = part.step()
            stepsDone += 1
            ran += 1
            onStep(stepsDone, loss)
        }
        return (ran, loss)
    }

    /// The step count at which simplicity level `level` is finished (level 0: the fidelity steps).
    public func levelEnd(_ level: Int) -> Int { levelStart(level + 1) }

    func levelStart(_ level: Int) -> Int {
        let parts = scene.parts.count
        return parts * abstraction.iterations + (level - 1) * parts * abstraction.simplicityIterations
    }

    // MARK: Snapshots

    struct Header: Codable {
        var version = 1
        var abstraction: Abstraction
        var stepsDone: Int
        var photoPNG: Int
        var maskPNG: Int
        var parts: [PartStateHeader]
    }

    /// The whole state as bytes (photo, mask, schedule position, MLPs, optimisers, RNGs).
    public func snapshot() throws -> Data {
        var archive = SnapshotArchive()
        let photoBlob = archive.add(try ImageFile.pngData(photo).map { Float($0) })
        let maskBlob = archive.add(try ImageFile.pngData(subjectMask).map { Float($0) })
        let parts = scene.parts.map { $0.saveState(into: &archive) }
        return try archive.encode(header: Header(abstraction: abstraction, stepsDone: stepsDone, photoPNG: photoBlob,
                                                 maskPNG: maskBlob, parts: parts))
    }

    /// Rebuilds a session from `snapshot()` bytes; stepping it continues the same run.
    public static func restore(_ data: Data, encoder: EfficientNetLite0) throws -> SketchSession {
        let (header, blobs) = try SnapshotArchive.decode(data, as: Header.self)
        guard header.version == 1 else { throw SnapshotError("snapshot version \(header.version) is not supported") }
        func bytes(_ i: Int) throws -> Data {
            guard blobs.indices.contains(i) else { throw SnapshotError("snapshot is missing an image") }
            return Data(blobs[i].map { UInt8(max(0, min(255, $0))) })
        }
        let photo = try ImageFile.decode(data: try bytes(header.photoPNG), name: "snapshot photo")
        let maskRGB = try ImageFile.decode(data: try bytes(header.maskPNG), name: "snapshot mask")
        let mask = GrayImage(width: maskRGB.width, height: maskRGB.height, pixels: Array(maskRGB.pixels[0..<maskRGB.planeSize]))
        let session = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: header.abstraction)
        guard header.parts.count == session.scene.parts.count else { throw SnapshotError("snapshot has a different number of parts") }
        for (part, state) in zip(session.scene.parts, header.parts) { try part.loadState(state, blobs: blobs) }
        session.stepsDone = header.stepsDone
        return session
    }
}
