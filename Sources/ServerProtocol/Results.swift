import Foundation
import JSONRPC

// The results of the methods, as `protocol/clipascene.openrpc.json` describes them.

/// An abstraction as the server reports it (`setAbstraction`, `restoreSession`).
public struct AbstractionSettings: WireType, CaseIterableKeys, Equatable {
    public var fidelity: Int
    public var simplicity: Int
    public var strokes: Int
    /// The SVG's stroke width, canvas pixels.
    public var strokeWidth: Double?
    public var seed: Int
    public var iterations: Int
    public var simplicityIterations: Int
    public var learningRate: Double?
    public var augmentations: Int
    @Nullable public var depth: Int?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case fidelity, simplicity, strokes, strokeWidth, seed, iterations, simplicityIterations, learningRate, augmentations, depth
    }

    public init(fidelity: Int, simplicity: Int, strokes: Int, strokeWidth: Double?, seed: Int, iterations: Int,
                simplicityIterations: Int, learningRate: Double?, augmentations: Int, depth: Int?) {
        self.fidelity = fidelity
        self.simplicity = simplicity
        self.strokes = strokes
        self.strokeWidth = strokeWidth
        self.seed = seed
        self.iterations = iterations
        self.simplicityIterations = simplicityIterations
        self.learningRate = learningRate
        self.augmentations = augmentations
        self.depth = depth
    }
}

/// The photo and canvas facts `loadImage` and `restoreSession` report.
public struct ImageFacts: Sendable, Equatable {
    public var width, height, canvasWidth, canvasHeight: Int
    public var subjectFound: Bool
    public var subjectCoverage: Double?
    public var encoder: String
    public init(width: Int, height: Int, canvasWidth: Int, canvasHeight: Int, subjectFound: Bool, subjectCoverage: Double?, encoder: String) {
        (self.width, self.height, self.canvasWidth, self.canvasHeight) = (width, height, canvasWidth, canvasHeight)
        self.subjectFound = subjectFound
        self.subjectCoverage = subjectCoverage
        self.encoder = encoder
    }
}

/// `loadImage`.
public struct ImageInfo: WireType, CaseIterableKeys {
    public var uri: String
    public var width, height, canvasWidth, canvasHeight: Int
    public var subjectFound: Bool
    @Nullable public var subjectCoverage: Double?
    public var encoder: String
    public var preparationSeconds: Double
    public var totalSteps: Int

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case uri, width, height, canvasWidth, canvasHeight, subjectFound, subjectCoverage, encoder, preparationSeconds, totalSteps
    }

    public init(uri: String, facts f: ImageFacts, preparationSeconds: Double, totalSteps: Int) {
        self.uri = uri
        (width, height, canvasWidth, canvasHeight) = (f.width, f.height, f.canvasWidth, f.canvasHeight)
        subjectFound = f.subjectFound
        subjectCoverage = f.subjectCoverage
        encoder = f.encoder
        self.preparationSeconds = preparationSeconds
        self.totalSteps = totalSteps
    }
}

/// `setAbstraction`.
public struct AbstractionResult: WireType, CaseIterableKeys {
    public var abstraction: AbstractionSettings
    /// `unchanged`, `continued`, `rewound` or `restarted`.
    public var change: String
    public var step: Int
    public var totalSteps: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case abstraction, change, step, totalSteps }

    public init(abstraction: AbstractionSettings, change: String, step: Int, totalSteps: Int) {
        self.abstraction = abstraction
        self.change = change
        self.step = step
        self.totalSteps = totalSteps
    }
}

/// `step` (also the `data` of its cancellation error).
public struct StepResult: WireType, CaseIterableKeys {
    public var step, totalSteps, stepsRun: Int
    @Nullable public var loss: Double?
    @Nullable public var lossPart: String?
    @Nullable public var bestLoss: Double?
    public var level: Int
    public var converged, complete: Bool
    public var omittedStrokes: Int

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case step, totalSteps, stepsRun, loss, lossPart, bestLoss, level, converged, complete, omittedStrokes
    }

    public init(step: Int, totalSteps: Int, stepsRun: Int, loss: Double?, lossPart: String?, bestLoss: Double?,
                level: Int, converged: Bool, complete: Bool, omittedStrokes: Int) {
        (self.step, self.totalSteps, self.stepsRun) = (step, totalSteps, stepsRun)
        self.loss = loss
        self.lossPart = lossPart
        self.bestLoss = bestLoss
        self.level = level
        (self.converged, self.complete) = (converged, complete)
        self.omittedStrokes = omittedStrokes
    }
}

/// `getSVG`.
public struct SVGResult: WireType, CaseIterableKeys {
    public var svg: String
    public var part: String
    public var step: Int
    public var omittedStrokes: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case svg, part, step, omittedStrokes }

    public init(svg: String, part: String, step: Int, omittedStrokes: Int) {
        (self.svg, self.part, self.step, self.omittedStrokes) = (svg, part, step, omittedStrokes)
    }
}

/// `getPreview`.
public struct PreviewResult: WireType, CaseIterableKeys {
    /// Base64 PNG.
    public var png: String
    public var width, height: Int
    public var part: String
    public var step: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case png, width, height, part, step }

    public init(png: String, width: Int, height: Int, part: String, step: Int) {
        (self.png, self.width, self.height, self.part, self.step) = (png, width, height, part, step)
    }
}

/// One cell of `runMatrix`.
public struct MatrixCell: WireType, CaseIterableKeys {
    public var fidelity, simplicity: Int
    public var svg: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case fidelity, simplicity, svg }

    public init(fidelity: Int, simplicity: Int, svg: String) { (self.fidelity, self.simplicity, self.svg) = (fidelity, simplicity, svg) }
}

/// `runMatrix` (its cells alone are the `data` of its cancellation error).
public struct MatrixResult: WireType, CaseIterableKeys {
    public var cells: [MatrixCell]
    /// Base64 PNG.
    public var contactSheet: String
    public var fidelities, simplicities: [Int]
    public var outDir: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case cells, contactSheet, fidelities, simplicities, outDir }

    public init(cells: [MatrixCell], contactSheet: String, fidelities: [Int], simplicities: [Int], outDir: String?) {
        self.cells = cells
        self.contactSheet = contactSheet
        (self.fidelities, self.simplicities) = (fidelities, simplicities)
        self.outDir = outDir
    }
}

/// `saveSession`.
public struct SaveResult: WireType, CaseIterableKeys {
    public var path: String
    public var bytes, step: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case path, bytes, step }

    public init(path: String, bytes: Int, step: Int) { (self.path, self.bytes, self.step) = (path, bytes, step) }
}

/// `restoreSession`.
public struct RestoreResult: WireType, CaseIterableKeys {
    public var uri, path: String
    public var width, height, canvasWidth, canvasHeight: Int
    public var subjectFound: Bool
    @Nullable public var subjectCoverage: Double?
    public var encoder: String
    public var step, totalSteps: Int
    public var abstraction: AbstractionSettings

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case uri, path, width, height, canvasWidth, canvasHeight, subjectFound, subjectCoverage, encoder, step, totalSteps, abstraction
    }

    public init(uri: String, path: String, facts f: ImageFacts, step: Int, totalSteps: Int, abstraction: AbstractionSettings) {
        (self.uri, self.path) = (uri, path)
        (width, height, canvasWidth, canvasHeight) = (f.width, f.height, f.canvasWidth, f.canvasHeight)
        subjectFound = f.subjectFound
        subjectCoverage = f.subjectCoverage
        encoder = f.encoder
        (self.step, self.totalSteps) = (step, totalSteps)
        self.abstraction = abstraction
    }
}

/// One document in `getStatus`.
public struct DocumentStatus: WireType, CaseIterableKeys {
    public var uri: String
    /// The method working on it, if any.
    @Nullable public var busy: String?
    public var step, totalSteps: Int
    @Nullable public var loss: Double?
    @Nullable public var bestLoss: Double?
    /// The cells computed ahead while the document is finished and idle (speculation).
    public var speculatedCells: [SpeculatedCell]

    public enum CodingKeys: String, CodingKey, CaseIterable { case uri, busy, step, totalSteps, loss, bestLoss, speculatedCells }

    public init(uri: String, busy: String?, step: Int, totalSteps: Int, loss: Double?, bestLoss: Double?,
                speculatedCells: [SpeculatedCell] = []) {
        self.uri = uri
        self.busy = busy
        (self.step, self.totalSteps) = (step, totalSteps)
        self.loss = loss
        self.bestLoss = bestLoss
        self.speculatedCells = speculatedCells
    }
}

/// A cell computed ahead: its abstraction's fidelity and simplicity (the rest are the
/// document's) and how far it is (`step == totalSteps`: a `setAbstraction` onto it is `ready`).
public struct SpeculatedCell: WireType, CaseIterableKeys {
    public var fidelity, simplicity, step, totalSteps: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case fidelity, simplicity, step, totalSteps }

    public init(fidelity: Int, simplicity: Int, step: Int, totalSteps: Int) {
        (self.fidelity, self.simplicity, self.step, self.totalSteps) = (fidelity, simplicity, step, totalSteps)
    }
}

/// `getStatus`.
public struct Status: WireType, CaseIterableKeys {
    public var version: String
    public var documents: [DocumentStatus]
    public var stateDirectory: String
    public var snapshots: SnapshotHealth
    /// How many documents may be open at once (`--max-documents`).
    public var maxDocuments: Int
    /// Cells each finished document may compute ahead, about 75 MB each (`--speculate-cells`; 0: off).
    public var speculateCells: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case version, documents, maxDocuments, speculateCells, stateDirectory, snapshots }

    public init(version: String, documents: [DocumentStatus], maxDocuments: Int, speculateCells: Int, stateDirectory: String,
                snapshots: SnapshotHealth) {
        self.version = version
        self.documents = documents
        self.maxDocuments = maxDocuments
        self.speculateCells = speculateCells
        self.stateDirectory = stateDirectory
        self.snapshots = snapshots
    }
}

/// Whether automatic snapshots are being written.
public struct SnapshotHealth: WireType, CaseIterableKeys {
    public var enabled, healthy: Bool
    public var error: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case enabled, healthy, error }

    public init(enabled: Bool, healthy: Bool, error: String?) { (self.enabled, self.healthy, self.error) = (enabled, healthy, error) }
}
