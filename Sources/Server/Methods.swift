import Foundation
import JSONRPC
import Imaging
import Models
import Sketching
import ServerProtocol
import Vector

/// How a method runs: at once, in order on the server's read queue; in order on its document's
/// queue; or (`reading`) at once from the document's published state, unless the document has
/// none yet (its loadImage is queued or running) or the server runs `--ordered`, when it waits
/// its turn on the document's queue.
enum Handler: Sendable {
    case immediate(@Sendable (Server, Request) throws -> JSON)
    /// `creates`: the request may open the document (loadImage, restoreSession).
    case document(creates: Bool, @Sendable (Document, Request) throws -> JSON)
    case reading(@Sendable (Document, Request) throws -> JSON)
}

extension Server {
    /// Every request method, by name. `protocol/clipascene.openrpc.json` describes each.
    static let handlers: [String: Handler] = [
        "loadImage": .document(creates: true) { try $0.loadImage($1) },
        "setAbstraction": .document(creates: false) { try $0.setAbstraction($1) },
        "step": .document(creates: false) { try $0.step($1) },
        "runMatrix": .document(creates: false) { try $0.runMatrix($1) },
        "saveSession": .document(creates: false) { try $0.saveSession($1) },
        "restoreSession": .document(creates: true) { try $0.restoreSession($1) },
        "closeDocument": .document(creates: false) { try $0.close($1) },
        "getSVG": .reading { try $0.svg($1) },
        "getPreview": .reading { try $0.preview($1) },
        "getStatus": .immediate { server, r in
            _ = try NoParams(r.params)
            return try server.status().json()
        },
        "shutdown": .immediate { server, _ in server.shutdown() },
    ]

    static let methodNames = (["initialize"] + handlers.keys).sorted()
}

/// The document methods `handlers` dispatches to, in the order of the table.
extension Document {
    // MARK: Methods

    func loadImage(_ r: Request) throws -> JSON {
        let q = try LoadImageParams(r.params)
        let encoderName = q.encoder ?? EncoderKind.default.rawValue
        guard EncoderKind(rawValue: encoderName) != nil else {
            throw RPCError.invalidParams("options.encoder must be one of: \(EncoderKind.namesList); got \(encoderName.debugDescription)")
        }
        let progress = try Progress(r, server: server)
        reopen()
        let started = Date()
        progress.begin(title: "Loading \(uri)", message: "decoding the image")
        defer { progress.end("loaded") }

        let photo = try decodeImage(path: q.path, data: q.data, what: "the image")
        let maskSource = MaskSource(q.mask)
        let background: RGBImage?
        do { background = try BackgroundSource(q.background).image() } catch let e as ImageError {
            throw RPCError.failed("options.background could not be read: \(e.description)")
        }
        busy.withLock { $0 = "loadImage" }
        defer { busy.withLock { $0 = nil } }
        let session: SketchSession = try server.gate.run {
            let models = try server.perceptionModels()
            if maskSource == .auto { progress.report("finding the subject", percentage: 20) }
            let mask: GrayImage
            do { mask = try maskSource.mask(for: photo, masker: models.masker) } catch let e as ImageError {
                throw RPCError.failed("options.mask could not be read: \(e.description)")
            } catch let e as MaskMismatch {
                throw RPCError.invalidParams("options.mask: \(e.description)")
            } catch {
                throw RPCError.failed("the subject mask failed: \(error)")
            }
            progress.report("preparing targets and initial strokes", percentage: 60)
            let encoder = try server.encoder(named: encoderName)
            do {
                return try SketchSession(photo: photo, subjectMask: mask, background: background, encoder: encoder,
                                         abstraction: loadSettings)
            } catch let e as AbstractionError {
                throw RPCError.invalidParams("for the \(encoderName) encoder: \(e.description)")
            }
        }
        guard !r.cancel.isCancelled else { throw r.cancel.error("loadImage was cancelled; the document keeps its previous image") }
        self.session = session
        publish(session)
        server.gate.run { autosnapshot(session) }
        return try ImageInfo(uri: uri, facts: Self.describe(session), preparationSeconds: Date().timeIntervalSince(started),
                             totalSteps: session.totalSteps).json()
    }

    /// The image and canvas facts loadImage and restoreSession report.
    static func describe(_ session: SketchSession) -> ImageFacts {
        let scene = session.scene
        return ImageFacts(width: session.photo.width, height: session.photo.height, canvasWidth: scene.canvasWidth,
                          canvasHeight: scene.canvasHeight, subjectFound: scene.foreground != nil,
                          subjectCoverage: wireNumber(scene.subject.coverage), encoder: session.encoder.name)
    }

    /// `data` as base64: the standard alphabet, `=` padding (or none), and whitespace between
    /// (MIME wraps lines). Any other character is refused by name and position, where the
    /// lenient decoder skipped it and handed on other bytes than the client meant.
    static func strictBase64(_ text: String) throws -> Data {
        var clean = [UInt8]()
        clean.reserveCapacity(text.utf8.count)
        for (offset, b) in text.utf8.enumerated() {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                clean.append(b)
            case 0x20, 0x09, 0x0A, 0x0D: continue
            default:
                let shown = b < 0x80 ? String(UnicodeScalar(b)).debugDescription : String(format: "byte 0x%02X", b)
                throw RPCError.invalidParams("data must be base64 (A–Z, a–z, 0–9, +, /, = padding); found \(shown) at character \(offset)")
            }
        }
        while clean.count % 4 != 0 { clean.append(UInt8(ascii: "=")) }
        guard let bytes = Data(base64Encoded: Data(clean)) else {
            throw RPCError.invalidParams("data is not valid base64 (padding or length is wrong)")
        }
        return bytes
    }

    func decodeImage(path: String?, data: String?, what: String) throws -> RGBImage {
        do {
            switch (path, data) {
            case (let path?, nil):
                return try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide)
            case (nil, let data?):
                let bytes = try Self.strictBase64(data)
                guard !bytes.isEmpty else { throw RPCError.invalidParams("data must be a base64-encoded PNG or JPEG file; it is empty") }
                return try ImageFile.decode(data: bytes, name: "data", maxSide: ImageFile.workingMaxSide)
            case (nil, nil):
                throw RPCError.invalidParams("\(what): give path (a file the server can read) or data (base64 PNG/JPEG)")
            default:
                throw RPCError.invalidParams("\(what): give path or data, not both")
            }
        } catch let e as ImageError {
            throw RPCError.failed("\(what) could not be read: \(e.description)")
        }
    }

    func setAbstraction(_ r: Request) throws -> JSON {
        let q = try SetAbstractionParams(r.params)
        // Raw depths depend on the document's encoder; before an image is loaded, any encoder's.
        let depths = session.map { EncoderProfile.of($0.encoder).depthRange } ?? Abstraction.depthRange
        let a = try AbstractionParameters.apply(q.settings, to: session?.abstraction ?? loadSettings, depths: depths)
        guard !closed else { throw server.unknownDocument(uri) }
        loadSettings = a
        var change = AbstractionChange.unchanged
        if let session {
            busy.withLock { $0 = "setAbstraction" }
            defer { busy.withLock { $0 = nil } }
            if let cell = speculation?.take(a, current: session) {
                // Computed ahead while the document was idle: shown at once.
                self.session = cell
                speculation?.swapped(to: cell, keeping: session)
                publishSpeculation()
                change = cell.isComplete ? .ready : .continued
            } else {
                change = try server.gate.run { try session.adopt(a) }
            }
            guard let current = self.session else { throw server.unknownDocument(uri) }
            publish(current)
            if change != .unchanged { server.gate.run { autosnapshot(current) } }
        }
        return try AbstractionResult(abstraction: wireSettings(a), change: change.rawValue, step: session?.stepsDone ?? 0,
                                     totalSteps: session?.totalSteps ?? 0).json()
    }

    func step(_ r: Request) throws -> JSON {
        let count = try StepParams(r.params).count
        let session = try requireSession()
        let progress = try Progress(r, server: server)
        let first = session.stepsDone
        let planned = min(count, session.totalSteps - first)
        progress.begin(title: "Sketching \(uri)", message: "step \(first)/\(session.totalSteps)")
        busy.withLock { $0 = "step" }
        var loss = published.current?.loss ?? .nan
        var lastReport = Date.distantPast, lastPublish = Date()
        let interval = server.snapshotInterval
        server.gate.acquire()
        session.step(count, shouldContinue: { !r.cancel.isCancelled }, onStep: { done, l in
            loss = l
            let now = Date()
            // Before simplification the drawing is the kept best strokes (free to copy); after,
            // it costs two MLP passes, so it is refreshed at most four times a second.
            if session.levelStarted == 0 || now.timeIntervalSince(lastPublish) >= 0.25 || done - first == planned {
                publish(session, loss: l)
                lastPublish = now
            }
            if now.timeIntervalSince(lastReport) >= 0.1 || done - first == planned {
                lastReport = now
                progress.report("step \(done)/\(session.totalSteps), loss \(String(format: "%.4f", l))",
                                percentage: planned > 0 ? 100 * (done - first) / planned : 100, step: done, loss: l)
            }
            if interval > 0 && now.timeIntervalSince(lastSnapshot) >= interval { autosnapshot(session) }
            server.gate.yield()
        })
        publish(session, loss: loss)
        if session.stepsDone > first { snapshotAfterRequest(session) }
        server.gate.release()
        busy.withLock { $0 = nil }
        let ran = session.stepsDone - first
        let result = try StepResult(step: session.stepsDone, totalSteps: session.totalSteps, stepsRun: ran, loss: wireNumber(loss),
                                    lossPart: session.lastPart, bestLoss: wireNumber(session.bestLoss), level: session.levelStarted,
                                    converged: session.stepsDone >= session.levelEnd(session.levelStarted),
                                    complete: session.isComplete,
                                    omittedStrokes: published.current?.drawing.omittedStrokes ?? 0).json()
        progress.end(r.cancel.isCancelled ? "cancelled at step \(session.stepsDone)" : "step \(session.stepsDone)/\(session.totalSteps)")
        if r.cancel.isCancelled && ran < planned {
            throw r.cancel.error("step was cancelled after \(ran) of \(planned) steps; the document is at step \(session.stepsDone)",
                                 data: result)
        }
        return result
    }

    func runMatrix(_ r: Request) throws -> JSON {
        let q = try RunMatrixParams(r.params)
        let session = try requireSession()
        let matrix: AbstractionMatrix
        do {
            matrix = try AbstractionMatrix(fidelities: q.fidelities, simplicities: q.simplicities, base: session.abstraction)
        } catch let e as AbstractionError { throw RPCError.invalidParams(e.description) }
        let outDir = q.outDir
        if let outDir {
            // Found before any work, as the caller's mistake: a file, device or pipe where the
            // folder should be, or one of the files to write.
            let files = matrix.fileNames
            do { try AtomicFile.prepareFolder(outDir, files: files) } catch let e as FileWriteError {
                throw RPCError.invalidParams("outDir: \(e.description)")
            }
        }
        let progress = try Progress(r, server: server)
        progress.begin(title: "Abstraction matrix of \(uri)", message: "\(matrix.simplicities.count) × \(matrix.fidelities.count) cells")
        busy.withLock { $0 = "runMatrix" }
        defer { busy.withLock { $0 = nil } }
        var lastReport = Date.distantPast
        server.gate.acquire()
        defer { server.gate.release() }
        var matrixCells: [MatrixCell] = []
        let cells = try matrix.run(photo: session.photo, subjectMask: session.subjectMask, background: session.background,
                                   encoder: session.encoder, shouldContinue: { !r.cancel.isCancelled },
                                   onStep: { done, total, loss in
            if Date().timeIntervalSince(lastReport) >= 0.1 || done == total {
                lastReport = Date()
                progress.report("step \(done)/\(total), loss \(String(format: "%.4f", loss))",
                                percentage: 100 * done / max(1, total), step: done, loss: loss)
            }
            server.gate.yield()
        }, onCell: { cell in
            let svg = try cell.drawing.combinedSVG()
            if let outDir { try svg.write(to: "\(outDir)/\(cell.fileName)") }
            matrixCells.append(MatrixCell(fidelity: cell.fidelity, simplicity: cell.simplicity, svg: svg.xml()))
        })
        progress.end("\(cells.count) cells")
        guard !r.cancel.isCancelled || cells.count == matrix.fidelities.count * matrix.simplicities.count else {
            throw r.cancel.error("runMatrix was cancelled after \(cells.count) cells", data: ["cells": try matrixCells.json()])
        }
        let sheet = try ImageFile.pngData(matrix.contactSheet(cells))
        if let outDir { try AtomicFile.write(sheet, to: "\(outDir)/\(AbstractionMatrix.contactSheetName)") }
        return try MatrixResult(cells: matrixCells, contactSheet: sheet.base64EncodedString(), fidelities: matrix.fidelities,
                                simplicities: matrix.simplicities, outDir: outDir).json()
    }

    func saveSession(_ r: Request) throws -> JSON {
        let q = try SessionFileParams(r.params)
        let session = try requireSession()
        let path = q.path ?? server.state.snapshotPath(for: uri)
        // A path that cannot name a file is the caller's mistake, found before any work.
        do { try AtomicFile.validate(path) } catch let e as FileWriteError { throw RPCError.invalidParams("path: \(e.description)") }
        let data = try server.gate.run { try session.snapshot() }
        do { try AtomicFile.write(data, to: path, createFolders: true) } catch let e as FileWriteError {
            throw RPCError.failed("could not save the session: \(e.description)")
        }
        return try SaveResult(path: path, bytes: data.count, step: session.stepsDone).json()
    }

    func restoreSession(_ r: Request) throws -> JSON {
        let q = try SessionFileParams(r.params)
        let path = q.path ?? server.state.snapshotPath(for: uri)
        let data: Data
        do { data = try SketchSession.readSnapshot(path: path) } catch let e as SnapshotError {
            throw RPCError.failed(e.description + (q.path != nil ? "" :
                " (the server's automatic snapshot of \(uri.debugDescription); is --state-dir the same as before?)"))
        }
        reopen()
        busy.withLock { $0 = "restoreSession" }
        defer { busy.withLock { $0 = nil } }
        let session: SketchSession = try server.gate.run {
            do {
                let encoder = try server.encoder(named: SketchSession.encoderName(inSnapshot: data))
                return try SketchSession.restore(data, encoder: encoder)
            } catch let e as SnapshotError {
                throw RPCError.failed("\(path) cannot be restored: \(e.description)")
            }
        }
        self.session = session
        loadSettings = session.abstraction
        publish(session)
        lastSnapshot = Date()
        return try RestoreResult(uri: uri, path: path, facts: Self.describe(session), step: session.stepsDone,
                                 totalSteps: session.totalSteps, abstraction: wireSettings(session.abstraction)).json()
    }

    func close(_ r: Request) throws -> JSON {
        // The snapshot goes with the document unless the client keeps it.
        let forget = try !CloseDocumentParams(r.params).keepSnapshot
        guard !closed else { throw server.unknownDocument(uri) }
        closed = true
        session = nil
        snapshotDirty = false
        published.withLock { $0 = nil }
        if forget { server.state.remove(uri: uri) }
        return .null
    }

    // MARK: Reading the published state (any thread)

    func svg(_ r: Request) throws -> JSON {
        let part = Self.sketchPart(try GetSVGParams(r.params).part)
        let state = try publishedOrFail()
        return try SVGResult(svg: try state.drawing.svg(part).xml(), part: part.rawValue, step: state.step,
                             omittedStrokes: state.drawing.omittedStrokes(part)).json()
    }

    func preview(_ r: Request) throws -> JSON {
        let q = try GetPreviewParams(r.params)
        let part = Self.sketchPart(q.part)
        let state = try publishedOrFail()
        let image = state.drawing.preview(part, scale: q.scale)
        return try PreviewResult(png: try ImageFile.pngData(image).base64EncodedString(), width: image.width, height: image.height,
                                 part: part.rawValue, step: state.step).json()
    }

    static func sketchPart(_ part: Part) -> SketchPart {
        switch part {
        case .combined: .combined
        case .foreground: .foreground
        case .background: .background
        }
    }
}

/// An abstraction as the wire shows it.
func wireSettings(_ a: Abstraction) -> AbstractionSettings {
    AbstractionSettings(fidelity: a.fidelity, simplicity: a.simplicity, strokes: a.strokes, strokeWidth: wireNumber(a.strokeWidth),
                        seed: Int(truncatingIfNeeded: a.seed), iterations: a.iterations, simplicityIterations: a.simplicityIterations,
                        learningRate: wireNumber(a.learningRate), augmentations: a.augmentations, depth: a.depth)
}
