import Foundation
import Imaging
import Models
import Tensors
import Vector

/// What `SketchSession.adopt` did with a new abstraction.
public enum AbstractionChange: String, Sendable, Codable {
    /// Nothing differed.
    case unchanged
    /// The run carries on: the simplicity target moved to a level not yet passed (levels
    /// chain), the schedule grew (more steps per part) before simplification began, or the
    /// stroke width changed (the strokes keep their places and are drawn at the new width;
    /// the steps still to run optimise at it).
    case continued
    /// Simplicity went back below a level already run, or the schedule changed after
    /// simplification began: the run returned to the end of the fidelity phase (kept in
    /// memory) and continues from there.
    case rewound
    /// Fidelity, strokes, seed, learning rate, views or depth changed, or fewer fidelity
    /// steps were asked for: the sketch starts again.
    case restarted
    /// The drawing at the new abstraction was computed ahead while the document was idle (the
    /// server's speculation) and is shown at once, finished.
    case ready
}

/// One document's sketch, run incrementally: load → step(n) → SVG at any time, and a snapshot
/// of the whole state that restores to continue exactly where it stopped.
public final class SketchSession: @unchecked Sendable {
    public let photo: RGBImage
    public let subjectMask: GrayImage
    /// A user-given background target (nil: the subject region is inpainted).
    public let background: RGBImage?
    public private(set) var abstraction: Abstraction
    public private(set) var scene: SceneSketch
    /// Steps run of the schedule: every part's own count, added.
    public var stepsDone: Int { scene.parts.reduce(0) { $0 + $1.step } }
    /// The part the latest step optimised ("foreground" or "background"; nil before any step):
    /// the loss a step reports is that part's alone.
    public private(set) var lastPart: String?
    public let encoder: any PerceptualEncoder
    let profile: EncoderProfile
    /// The parts' state when the fidelity phase ended, so simplicity can go back without redoing it.
    private var fidelityEnd: (parts: [PartStateHeader], blobs: [[Float]])?

    public init(photo: RGBImage, subjectMask: GrayImage, background: RGBImage? = nil, encoder: any PerceptualEncoder,
                abstraction: Abstraction) throws {
        profile = EncoderProfile.of(encoder)
        try abstraction.validate(depths: profile.depthRange)
        self.photo = photo
        self.subjectMask = subjectMask
        self.background = background
        self.abstraction = abstraction
        self.encoder = encoder
        scene = SceneSketch(photo: photo, subjectMask: subjectMask, background: background, encoder: encoder,
                            abstraction: abstraction)
    }

    /// A new session of this photo at `new`, from step 0: what `SketchSession(photo:…)` gives,
    /// reusing the prepared targets and first strokes where `new` keeps them (see
    /// `SceneSketch.restarted`). Speculation starts its fidelity cells this way.
    public func startedAgain(at new: Abstraction) -> SketchSession {
        let session = SketchSession(copying: self, scene: sceneStartedAgain(at: new))
        session.abstraction = new
        session.fidelityEnd = nil
        session.lastPart = nil
        return session
    }

    private func sceneStartedAgain(at new: Abstraction) -> SceneSketch {
        scene.restarted(with: new, previous: abstraction, profile: profile)
            ?? SceneSketch(photo: photo, subjectMask: subjectMask, background: background, encoder: encoder, abstraction: new)
    }

    /// An independent copy of the whole state, without preparing anything again: stepping or
    /// adopting it draws what this session would (the server computes cells ahead on copies).
    public func copy() -> SketchSession { SketchSession(copying: self) }

    private init(copying s: SketchSession, scene: SceneSketch? = nil) {
        (photo, subjectMask, background, abstraction) = (s.photo, s.subjectMask, s.background, s.abstraction)
        (self.scene, encoder, profile, fidelityEnd) = (scene ?? s.scene.copy(), s.encoder, s.profile, s.fidelityEnd)
        (lastPart, encodedImageCache, partsSideBySide) = (s.lastPart, s.encodedImageCache, s.partsSideBySide)
    }

    /// Switches to `new`, keeping what was learned where the algorithm allows (see `AbstractionChange`).
    /// More fidelity or simplicity steps per part continue the run instead of starting again:
    /// the parts are independent, so the result is what a run with the new schedule from the
    /// start would have drawn.
    @discardableResult
    public func adopt(_ new: Abstraction) throws -> AbstractionChange {
        try new.validate(depths: profile.depthRange)
        if new == abstraction { return .unchanged }
        let old = abstraction
        var sameRun = new
        sameRun.simplicity = old.simplicity
        sameRun.iterations = old.iterations
        sameRun.simplicityIterations = old.simplicityIterations
        sameRun.strokeWidth = old.strokeWidth
        guard sameRun == old, new.iterations >= old.iterations else {
            scene = sceneStartedAgain(at: new)
            abstraction = new
            fidelityEnd = nil
            return .restarted
        }
        if new.strokeWidth != old.strokeWidth {
            let settings = new.resolve(profile)
            scene.foreground?.changeStrokeWidth(halfWidth: settings.foreground.halfWidth)
            scene.background.changeStrokeWidth(halfWidth: settings.background.halfWidth)
        }
        // No simplicity step has run yet: the schedule only grows or changes ahead of the run.
        if stepsDone <= levelEnd(0) {
            abstraction = new
            return .continued
        }
        if new.iterations == old.iterations && new.simplicityIterations == old.simplicityIterations
            && new.simplicity >= levelStarted {
            abstraction = new
            return .continued
        }
        // Back to the end of the fidelity phase: more fidelity steps continue from there, and the
        // simplicity levels are rerun.
        guard let saved = fidelityEnd else { throw AbstractionError("internal: the fidelity phase state is missing") }
        for (part, state) in zip(scene.parts, saved.parts) { try part.loadState(state, blobs: saved.blobs) }
        abstraction = new
        if new.iterations > old.iterations { fidelityEnd = nil }  // saved again when level 1 begins
        return .rewound
    }

    /// All steps of the schedule: fidelity for each part, then each simplicity level for each part.
    public var totalSteps: Int {
        scene.parts.count * (abstraction.iterations + abstraction.simplicity * abstraction.simplicityIterations)
    }

    public var isComplete: Bool { stepsDone >= totalSteps }

    /// The simplicity level whose steps have begun (0 while in the fidelity phase).
    public var levelStarted: Int {
        stepsDone <= levelEnd(0) ? 0 : 1 + (stepsDone - levelEnd(0) - 1) / (scene.parts.count * abstraction.simplicityIterations)
    }

    /// The lowest part loss kept so far in the fidelity phase (the best drawing's loss), summed over parts.
    public var bestLoss: Float { scene.parts.map(\.bestLoss).reduce(0, +) }

    /// Where `part` stands in its own schedule: the level of its next step (0: fidelity) and
    /// that step's number within the level (1-based); nil when its schedule is done.
    func nextStep(of part: PartSketcher) -> (level: Int, k: Int)? {
        if part.step < abstraction.iterations { return (0, part.step + 1) }
        let past = part.step - abstraction.iterations, perLevel = abstraction.simplicityIterations
        guard perLevel > 0, past / perLevel < abstraction.simplicity else { return nil }
        return (1 + past / perLevel, past % perLevel + 1)
    }

    /// A part's step count when simplicity level `level` begins.
    func partLevelStart(_ level: Int) -> Int { abstraction.iterations + (level - 1) * abstraction.simplicityIterations }

    /// Steps the two parts side by side, one thread each, when `ComputeThreads` has two to give;
    /// false steps one part at a time in the reference's order (a part's whole fidelity phase,
    /// then the other's; then each level the same way). The parts share nothing while they
    /// step, so both orders draw the same bytes; only the drawings in between differ.
    public var partsSideBySide = true

    /// Runs up to `count` steps of the schedule, stopping early when `shouldContinue` says so
    /// (checked between rounds). Returns the steps run and the latest loss.
    ///
    /// A round is one step of each part that can take one (side by side), or of one part (one
    /// after another, or when a single step is asked for: then the part that is behind). A
    /// part enters simplicity level L only when every part has finished level L − 1, because
    /// both parts move to a level together. `onStep(stepsDone, loss)` follows each round, with
    /// the loss of the round's last part (`lastPart`).
    @discardableResult
    public func step(_ count: Int, shouldContinue: () -> Bool = { true },
                     onStep: (Int, Float) -> Void = { _, _ in }) -> (steps: Int, loss: Float) {
        var ran = 0
        var loss = Float.nan
        let parts = scene.parts
        while ran < count && !isComplete && shouldContinue() {
            // The parts that can step now: not finished, and not waiting for the others to
            // finish the level before.
            var ready: [(part: PartSketcher, level: Int, k: Int)] = []
            for part in parts {
                guard let (level, k) = nextStep(of: part) else { continue }
                if level > 0 && !parts.allSatisfy({ $0.step >= partLevelStart(level) }) { continue }
                ready.append((part, level, k))
            }
            guard !ready.isEmpty else { break }
            if partsSideBySide {
                // The part behind goes first (stable: the foreground on a tie).
                ready = ready.enumerated().sorted { ($0.element.part.step, $0.offset) < ($1.element.part.step, $1.offset) }
                    .map(\.element)
            }
            let round = Array(ready.prefix(partsSideBySide ? min(2, count - ran) : 1))
            // Entering a simplicity level: both parts move to it together, once (before either
            // has taken a step of it).
            for (_, level, k) in round where level > 0 && k == 1
                && parts.allSatisfy({ $0.step == partLevelStart(level) }) {
                if level == 1 && fidelityEnd == nil {
                    var archive = SnapshotArchive()
                    let states = parts.map { $0.saveState(into: &archive) }
                    fidelityEnd = (states, archive.blobs)
                }
                scene.beginSimplicity(level: level)
                break
            }
            let perLevel = abstraction.simplicityIterations
            func run(_ i: Int) -> Float {
                let (part, level, k) = round[i]
                guard level > 0 else { return part.step() }
                let l = part.step(evaluating: LevelSelection.isEvaluation(step: k, of: perLevel))
                if k == perLevel { part.finishLevel() }
                return l
            }
            // Each part steps on one thread: the loops inside a part run inline (parallelFor).
            let losses = round.count > 1 ? parallelMap(round.count, run) : [run(0)]
            loss = losses[losses.count - 1]
            lastPart = round[round.count - 1].part === scene.foreground ? "foreground" : "background"
            ran += round.count
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
        var backgroundPNG: Int?
        var parts: [PartStateHeader]
        var fidelityEnd: [PartStateHeader]?
        /// The encoder's name (absent in snapshots from before there was a choice: the default).
        var encoder: String?
    }

    /// The whole state as bytes (photo, mask, schedule position, MLPs, optimisers, RNGs).
    public func snapshot() throws -> Data {
        var archive = SnapshotArchive()
        let images = try encodedImages()
        let photoBlob = archive.add(images.photo)
        let maskBlob = archive.add(images.mask)
        let backgroundBlob = images.background.map { archive.add($0) }
        let parts = scene.parts.map { $0.saveState(into: &archive) }
        // The fidelity-end state's blobs go after the current ones, renumbered.
        var fidelityParts: [PartStateHeader]? = nil
        if let saved = fidelityEnd {
            let offset = archive.blobs.count
            archive.blobs += saved.blobs
            fidelityParts = saved.parts.map { $0.shiftingBlobs(by: offset) }
        }
        return try archive.encode(header: Header(abstraction: abstraction, stepsDone: stepsDone, photoPNG: photoBlob,
                                                 maskPNG: maskBlob, backgroundPNG: backgroundBlob, parts: parts,
                                                 fidelityEnd: fidelityParts, encoder: encoder.name))
    }

    /// The photo, mask and background as PNG bytes (one float each), encoded once: they never
    /// change, and encoding them was most of a snapshot's time.
    private var encodedImageCache: (photo: [Float], mask: [Float], background: [Float]?)?

    private func encodedImages() throws -> (photo: [Float], mask: [Float], background: [Float]?) {
        if let cached = encodedImageCache { return cached }
        func png(_ data: Data) -> [Float] { data.map { Float($0) } }
        let images = (png(try ImageFile.pngData(photo)), png(try ImageFile.pngData(subjectMask)),
                      try background.map { png(try ImageFile.pngData($0)) })
        encodedImageCache = images
        return images
    }

    /// The largest snapshot file read (the biggest real ones are under 100 MB).
    public static let maximumSnapshotBytes = 1 << 31

    /// A snapshot file's bytes, with errors that name the file: it must be a regular file of
    /// at most `maximumSnapshotBytes` (never a device or FIFO that could be read forever).
    public static func readSnapshot(path: String) throws -> Data {
        guard !path.isEmpty, !path.utf8.contains(0) else { throw SnapshotError("\(path.debugDescription) is not a usable path") }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw SnapshotError(errno == ENOENT ? "no snapshot at \(path)" : "\(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SnapshotError("\(path) is not a regular file") }
        guard info.st_size <= maximumSnapshotBytes else {
            throw SnapshotError("\(path) has \(info.st_size) bytes, more than a snapshot can (\(maximumSnapshotBytes))")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SnapshotError("\(path) cannot be read: \(error.localizedDescription)")
        }
    }

    /// The encoder a snapshot was made with (the default for snapshots that do not say).
    public static func encoderName(inSnapshot data: Data) throws -> String {
        let (header, _) = try SnapshotArchive.decode(data, as: Header.self)
        return header.encoder ?? EncoderKind.default.rawValue
    }

    /// Rebuilds a session from `snapshot()` bytes; stepping it continues the same run.
    public static func restore(_ data: Data, encoder: any PerceptualEncoder) throws -> SketchSession {
        let (header, blobs) = try SnapshotArchive.decode(data, as: Header.self)
        guard header.version == 1 else { throw SnapshotError("snapshot version \(header.version) is not supported") }
        do { try header.abstraction.validate(depths: EncoderProfile.of(encoder).depthRange) } catch let e as AbstractionError {
            throw SnapshotError("the snapshot's abstraction is out of range: \(e.description)")
        }
        let made = header.encoder ?? EncoderKind.default.rawValue
        guard made == encoder.name else {
            throw SnapshotError("the snapshot was made with the \(made) encoder; restore it with that encoder (this one is \(encoder.name))")
        }
        func image(_ i: Int, _ name: String) throws -> RGBImage {
            guard blobs.indices.contains(i) else { throw SnapshotError("snapshot is missing the \(name)") }
            return try ImageFile.decode(data: Data(blobs[i].map { UInt8(max(0, min(255, $0))) }), name: "snapshot \(name)")
        }
        let photo = try image(header.photoPNG, "photo")
        let maskRGB = try image(header.maskPNG, "mask")
        let mask = GrayImage(width: maskRGB.width, height: maskRGB.height, pixels: Array(maskRGB.pixels[0..<maskRGB.planeSize]))
        let background = try header.backgroundPNG.map { try image($0, "background") }
        let session = try SketchSession(photo: photo, subjectMask: mask, background: background, encoder: encoder,
                                        abstraction: header.abstraction)
        guard header.parts.count == session.scene.parts.count else { throw SnapshotError("snapshot has a different number of parts") }
        for (part, state) in zip(session.scene.parts, header.parts) { try part.loadState(state, blobs: blobs) }
        if let saved = header.fidelityEnd {
            guard saved.count == header.parts.count else { throw SnapshotError("snapshot has a different number of parts") }
            for (part, state) in zip(session.scene.parts, saved) { try part.validate(state, blobs: blobs, allowSimplicity: false) }
            session.fidelityEnd = (saved, blobs)
        }
        guard (0...session.totalSteps).contains(header.stepsDone) else {
            throw SnapshotError("the snapshot says \(header.stepsDone) steps were done; its schedule has 0…\(session.totalSteps)")
        }
        // Past the fidelity phase a rewind needs the state saved when that phase ended.
        guard header.stepsDone <= session.levelEnd(0) || header.fidelityEnd != nil else {
            throw SnapshotError("the snapshot is past the fidelity phase but lacks the state saved at its end")
        }
        guard header.stepsDone == session.stepsDone else {
            throw SnapshotError("the snapshot says \(header.stepsDone) steps were done; its parts count \(session.stepsDone)")
        }
        return session
    }
}
