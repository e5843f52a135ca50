import Foundation
import Imaging
import Models
import Sketching
import Vector

/// What getSVG, getPreview and getStatus read while a step may be running: a copy of the
/// document's state as of its last completed step.
struct PublishedState: Sendable {
    var drawing: SketchDrawing
    var step: Int
    var totalSteps: Int
    var loss: Float
    var bestLoss: Float
    var level: Int
    var complete: Bool
    var abstraction: Abstraction
}

/// One open document: its session, used only on its own serial queue, and the published copy.
final class Document: @unchecked Sendable {
    let uri: String
    unowned let server: Server
    let queue: DispatchQueue
    let published = Locked<PublishedState?>(nil)
    let busy = Locked<String?>(nil)
    /// Requests dispatched to this document and not yet finished (guarded by the server's
    /// document table lock).
    var queued = 0

    // Touched only on `queue`.
    private var session: SketchSession?
    private var abstraction = Abstraction()
    private var imageInfo: JSON = .null
    private var closed = false
    private var lastSnapshot = Date()
    private var snapshotDirty = false

    init(uri: String, server: Server) {
        self.uri = uri
        self.server = server
        queue = DispatchQueue(label: "clipascene.document")
    }

    func requireSession() throws -> SketchSession {
        guard !closed, let session else { throw server.unknownDocument(uri) }
        return session
    }

    /// On `queue`: whether the document holds a sketch (else it is forgotten once idle).
    var hasSession: Bool { !closed && session != nil }

    /// Listed by getStatus and readable by getSVG: it has a sketch, or a request is working on one.
    var isVisible: Bool { published.current != nil || busy.current != nil }

    /// On `queue`: a creating request (loadImage, restoreSession) reopens a closed document.
    private func reopen() {
        guard closed else { return }
        closed = false
        abstraction = Abstraction()
    }

    /// On `queue`: writes the latest state if a snapshot is still owed (shutdown, SIGTERM).
    func saveIfChanged() {
        guard snapshotDirty, !closed, let session else { return }
        server.gate.run { autosnapshot(session) }
    }

    // MARK: Published state

    func publish(_ session: SketchSession, loss: Float? = nil) {
        let previous = published.current
        let state = PublishedState(drawing: session.scene.drawing, step: session.stepsDone, totalSteps: session.totalSteps,
                                   loss: loss ?? previous?.loss ?? .nan, bestLoss: session.bestLoss,
                                   level: session.levelStarted, complete: session.isComplete,
                                   abstraction: session.abstraction)
        published.withLock { $0 = state }
    }

    /// The published state; reads wait for a queued load, so none left means the document is gone.
    func publishedOrFail() throws -> PublishedState {
        guard let p = published.current else { throw server.unknownDocument(uri) }
        return p
    }

    func statusJSON() -> JSON {
        let p = published.current
        return ["uri": .string(uri), "busy": busy.current.map { .string($0) } ?? .null,
                "step": .int(p?.step ?? 0), "totalSteps": .int(p?.totalSteps ?? 0),
                "loss": number(p?.loss), "bestLoss": number(p?.bestLoss)]
    }

    // MARK: Snapshots

    private func autosnapshot(_ session: SketchSession) {
        guard server.state.enabled else { return }
        do {
            server.state.save(try session.snapshot(), uri: uri, step: session.stepsDone)
            lastSnapshot = Date()
            snapshotDirty = false
        } catch {
            FileHandle.standardError.write(Data("clipascene serve: snapshot of \(uri) failed: \(error)\n".utf8))
        }
    }

    /// End of a request that changed the state: snapshot now, or (if one was taken under a
    /// second ago, e.g. a client stepping one at a time) a second later if nothing else came.
    private func snapshotAfterRequest(_ session: SketchSession) {
        guard server.options.snapshotInterval > 0 else { return autosnapshot(session) }
        if Date().timeIntervalSince(lastSnapshot) >= 1 { return autosnapshot(session) }
        snapshotDirty = true
        queue.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self, self.snapshotDirty, !self.closed, let s = self.session, s === session else { return }
            self.server.gate.run { self.autosnapshot(s) }
        }
    }

    // MARK: Methods

    func loadImage(_ r: Request) throws -> JSON {
        let p = r.params
        try p.only(["uri", "path", "data", "options", "workDoneToken"])
        let options = try p.nested("options")
        try options.only(["mask", "background", "encoder"])
        let encoderName = try options.optionalString("encoder") ?? EncoderKind.default.rawValue
        guard EncoderKind(rawValue: encoderName) != nil else {
            throw RPCError.invalidParams("options.encoder must be one of: \(EncoderKind.namesList); got \(encoderName.debugDescription)")
        }
        let maskOption = try options.optionalString("mask") ?? "auto"
        let backgroundOption = try options.optionalString("background") ?? "auto"
        let progress = try Progress(r, server: server)
        reopen()
        let started = Date()
        progress.begin(title: "Loading \(uri)", message: "decoding the image")
        defer { progress.end("loaded") }

        let photo = try decodeImage(path: try p.optionalString("path"), data: try p.optionalString("data"), what: "the image")
        let maskSource = MaskSource(maskOption)
        let background: RGBImage?
        do { background = try BackgroundSource(backgroundOption).image() } catch let e as ImageError {
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
            } catch {
                throw RPCError.failed("the subject mask failed: \(error)")
            }
            progress.report("preparing targets and initial strokes", percentage: 60)
            let encoder = try server.encoder(named: encoderName)
            do {
                return try SketchSession(photo: photo, subjectMask: mask, background: background, encoder: encoder,
                                         abstraction: abstraction)
            } catch let e as AbstractionError {
                throw RPCError.invalidParams("for the \(encoderName) encoder: \(e.description)")
            }
        }
        guard !r.cancel.isCancelled else { throw r.cancel.error("loadImage was cancelled; the document keeps its previous image") }
        self.session = session
        imageInfo = Self.describe(session)
        publish(session)
        server.gate.run { autosnapshot(session) }
        return withObject(imageInfo) { o in
            o["uri"] = .string(uri)
            o["preparationSeconds"] = .double(Date().timeIntervalSince(started))
            o["totalSteps"] = .int(session.totalSteps)
        }
    }

    /// The image and canvas facts loadImage and restoreSession report.
    static func describe(_ session: SketchSession) -> JSON {
        let scene = session.scene
        return [
            "width": .int(session.photo.width), "height": .int(session.photo.height),
            "canvasWidth": .int(scene.canvasWidth), "canvasHeight": .int(scene.canvasHeight),
            "subjectFound": .bool(scene.foreground != nil), "subjectCoverage": number(scene.subject.coverage),
            "encoder": .string(session.encoder.name),
        ]
    }

    func decodeImage(path: String?, data: String?, what: String) throws -> RGBImage {
        do {
            switch (path, data) {
            case (let path?, nil):
                return try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide)
            case (nil, let data?):
                guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters), !bytes.isEmpty else {
                    throw RPCError.invalidParams("data must be a base64-encoded PNG or JPEG file")
                }
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
        let p = r.params
        try p.only(AbstractionParameters.keys.union(["uri"]))
        // Raw depths depend on the document's encoder; before an image is loaded, any encoder's.
        let depths = session.map { EncoderProfile.of($0.encoder).depthRange } ?? Abstraction.depthRange
        var fields = p.object
        fields["uri"] = nil
        let a = try AbstractionParameters.apply(fields, to: session?.abstraction ?? abstraction, depths: depths)
        guard !closed else { throw server.unknownDocument(uri) }
        abstraction = a
        var change = AbstractionChange.unchanged
        if let session {
            busy.withLock { $0 = "setAbstraction" }
            defer { busy.withLock { $0 = nil } }
            change = try server.gate.run { try session.adopt(a) }
            publish(session)
            if change != .unchanged { server.gate.run { autosnapshot(session) } }
        }
        return ["abstraction": abstractionJSON(a), "change": .string(change.rawValue),
                "step": .int(session?.stepsDone ?? 0), "totalSteps": .int(session?.totalSteps ?? 0)]
    }

    func step(_ r: Request) throws -> JSON {
        try r.params.only(["uri", "count", "workDoneToken"])
        let count = try r.params.int("count", in: 1...1_000_000, default: 1)
        let session = try requireSession()
        let progress = try Progress(r, server: server)
        let first = session.stepsDone
        let planned = min(count, session.totalSteps - first)
        progress.begin(title: "Sketching \(uri)", message: "step \(first)/\(session.totalSteps)")
        busy.withLock { $0 = "step" }
        var loss = published.current?.loss ?? .nan
        var lastReport = Date.distantPast, lastPublish = Date()
        let interval = server.options.snapshotInterval
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
                                percentage: planned > 0 ? 100 * (done - first) / planned : 100,
                                extra: ["step": .int(done), "loss": number(l)])
            }
            if interval > 0 && now.timeIntervalSince(lastSnapshot) >= interval { autosnapshot(session) }
            server.gate.yield()
        })
        publish(session, loss: loss)
        if session.stepsDone > first { snapshotAfterRequest(session) }
        server.gate.release()
        busy.withLock { $0 = nil }
        let ran = session.stepsDone - first
        let result: JSON = [
            "step": .int(session.stepsDone), "totalSteps": .int(session.totalSteps), "stepsRun": .int(ran),
            "loss": number(loss), "lossPart": session.lastPart.map { .string($0) } ?? .null,
            "bestLoss": number(session.bestLoss), "level": .int(session.levelStarted),
            "converged": .bool(session.stepsDone >= session.levelEnd(session.levelStarted)),
            "complete": .bool(session.isComplete),
            "omittedStrokes": .int(published.current?.drawing.omittedStrokes ?? 0),
        ]
        progress.end(r.cancel.isCancelled ? "cancelled at step \(session.stepsDone)" : "step \(session.stepsDone)/\(session.totalSteps)")
        if r.cancel.isCancelled && ran < planned {
            throw r.cancel.error("step was cancelled after \(ran) of \(planned) steps; the document is at step \(session.stepsDone)",
                                 data: result)
        }
        return result
    }

    func runMatrix(_ r: Request) throws -> JSON {
        let p = r.params
        try p.only(["uri", "fidelities", "simplicities", "outDir", "workDoneToken"])
        let session = try requireSession()
        let matrix: AbstractionMatrix
        do {
            matrix = try AbstractionMatrix(fidelities: try p.intArray("fidelities", default: [0, 1, 2, 3]),
                                           simplicities: try p.intArray("simplicities", default: [0, 2, 4, 6]),
                                           base: session.abstraction)
        } catch let e as AbstractionError { throw RPCError.invalidParams(e.description) }
        let outDir = try p.optionalString("outDir")
        if let outDir {
            guard !outDir.isEmpty, !outDir.utf8.contains(0) else { throw RPCError.invalidParams("outDir must be a folder path without NUL bytes") }
            do { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
                throw RPCError.failed("outDir \(outDir.debugDescription) cannot be created: \(error.localizedDescription)")
            }
        }
        let progress = try Progress(r, server: server)
        progress.begin(title: "Abstraction matrix of \(uri)", message: "\(matrix.simplicities.count) × \(matrix.fidelities.count) cells")
        busy.withLock { $0 = "runMatrix" }
        defer { busy.withLock { $0 = nil } }
        var lastReport = Date.distantPast
        server.gate.acquire()
        defer { server.gate.release() }
        var cellsJSON: [JSON] = []
        let cells = try matrix.run(photo: session.photo, subjectMask: session.subjectMask, background: session.background,
                                   encoder: session.encoder, shouldContinue: { !r.cancel.isCancelled },
                                   onStep: { done, total, loss in
            if Date().timeIntervalSince(lastReport) >= 0.1 || done == total {
                lastReport = Date()
                progress.report("step \(done)/\(total), loss \(String(format: "%.4f", loss))",
                                percentage: 100 * done / max(1, total), extra: ["step": .int(done), "loss": number(loss)])
            }
            server.gate.yield()
        }, onCell: { cell in
            let svg = try cell.drawing.combinedSVG()
            if let outDir { try svg.write(to: "\(outDir)/f\(cell.fidelity)_s\(cell.simplicity).svg") }
            cellsJSON.append(["fidelity": .int(cell.fidelity), "simplicity": .int(cell.simplicity), "svg": .string(svg.xml())])
        })
        progress.end("\(cells.count) cells")
        guard !r.cancel.isCancelled || cells.count == matrix.fidelities.count * matrix.simplicities.count else {
            throw r.cancel.error("runMatrix was cancelled after \(cells.count) cells", data: ["cells": .array(cellsJSON)])
        }
        let sheet = try ImageFile.pngData(matrix.contactSheet(cells))
        if let outDir { try AtomicFile.write(sheet, to: "\(outDir)/matrix.png") }
        var result: JSON = ["cells": .array(cellsJSON), "contactSheet": .string(sheet.base64EncodedString()),
                            "fidelities": .array(matrix.fidelities.map { .int($0) }),
                            "simplicities": .array(matrix.simplicities.map { .int($0) })]
        if let outDir { result = withObject(result) { o in o["outDir"] = .string(outDir) } }
        return result
    }

    func saveSession(_ r: Request) throws -> JSON {
        try r.params.only(["uri", "path"])
        let session = try requireSession()
        let path = try r.params.optionalString("path") ?? server.state.snapshotPath(for: uri)
        // A path that cannot name a file is the caller's mistake, found before any work.
        do { try AtomicFile.validate(path) } catch let e as FileWriteError { throw RPCError.invalidParams("path: \(e.description)") }
        let data = try server.gate.run { try session.snapshot() }
        do { try AtomicFile.write(data, to: path, createFolders: true) } catch let e as FileWriteError {
            throw RPCError.failed("could not save the session: \(e.description)")
        }
        return ["path": .string(path), "bytes": .int(data.count), "step": .int(session.stepsDone)]
    }

    func restoreSession(_ r: Request) throws -> JSON {
        try r.params.only(["uri", "path"])
        let path = try r.params.optionalString("path") ?? server.state.snapshotPath(for: uri)
        let data: Data
        do { data = try SketchSession.readSnapshot(path: path) } catch let e as SnapshotError {
            throw RPCError.failed(e.description + (r.params.has("path") ? "" :
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
        abstraction = session.abstraction
        imageInfo = Self.describe(session)
        publish(session)
        lastSnapshot = Date()
        return withObject(imageInfo) { o in
            o["uri"] = .string(uri)
            o["path"] = .string(path)
            o["step"] = .int(session.stepsDone)
            o["totalSteps"] = .int(session.totalSteps)
            o["abstraction"] = abstractionJSON(session.abstraction)
        }
    }

    func close(_ r: Request) throws -> JSON {
        try r.params.only(["uri", "keepSnapshot", "forgetSnapshot"])
        // The snapshot goes with the document unless the client keeps it (`forgetSnapshot`,
        // the older spelling, still works: false keeps it).
        let keep = try r.params.object["keepSnapshot"] != nil ? r.params.bool("keepSnapshot", default: false)
            : !r.params.bool("forgetSnapshot", default: true)
        let forget = !keep
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
        try r.params.only(["uri", "part"])
        let part = try partParameter(r.params)
        let state = try publishedOrFail()
        return ["svg": .string(try state.drawing.svg(part).xml()), "part": .string(part.rawValue), "step": .int(state.step),
                "omittedStrokes": .int(state.drawing.omittedStrokes(part))]
    }

    func preview(_ r: Request) throws -> JSON {
        try r.params.only(["uri", "part", "scale"])
        let part = try partParameter(r.params)
        let scale = try r.params.double("scale") ?? 2
        guard (0.25...8).contains(scale) else { throw RPCError.invalidParams("scale must be in 0.25…8, got \(scale)") }
        let state = try publishedOrFail()
        let image = state.drawing.preview(part, scale: scale)
        return ["png": .string(try ImageFile.pngData(image).base64EncodedString()), "width": .int(image.width),
                "height": .int(image.height), "part": .string(part.rawValue), "step": .int(state.step)]
    }

    func partParameter(_ p: Params) throws -> SketchPart {
        let name = try p.optionalString("part") ?? "combined"
        guard let part = SketchPart(rawValue: name) else {
            throw RPCError.invalidParams("part must be one of: combined, foreground, background; got \(name.debugDescription)")
        }
        return part
    }
}

/// A JSON number, or null for NaN and infinities (JSON has neither).
func number(_ v: Float?) -> JSON {
    guard let v, v.isFinite else { return .null }
    // Through the Float's shortest decimal, so 1e-4 reads 0.0001, not 9.999999747378752e-05.
    return .double(Double(v.description) ?? Double(v))
}

func withObject(_ value: JSON, _ edit: (inout [String: JSON]) -> Void) -> JSON {
    guard case .object(var o) = value else { return value }
    edit(&o)
    return .object(o)
}

func abstractionJSON(_ a: Abstraction) -> JSON {
    ["fidelity": .int(a.fidelity), "simplicity": .int(a.simplicity), "strokes": .int(a.strokes),
     "strokeWidth": number(a.strokeWidth), "seed": .int(Int(truncatingIfNeeded: a.seed)),
     "iterations": .int(a.iterations), "simplicityIterations": .int(a.simplicityIterations),
     "learningRate": number(a.learningRate), "augmentations": .int(a.augmentations),
     "depth": a.depth.map { .int($0) } ?? .null]
}

/// `$/progress` for one request: on the client's `workDoneToken`, else on a token the server
/// created (when the client supports that), else silent.
final class Progress {
    let token: JSON?
    let server: Server

    init(_ r: Request, server: Server) throws {
        self.server = server
        switch r.params.object["workDoneToken"] {
        case nil, .null?: token = server.createProgressToken()
        case .string(let s)?: token = .string(s)
        case .int(let i)?: token = .int(i)
        case let other?: throw RPCError.invalidParams("workDoneToken must be a string or an integer, got \(other.typeName)")
        }
        if let token { server.register(progress: token, for: r.cancel) }
    }

    deinit { if let token { server.unregister(progress: token) } }

    private func send(_ value: JSON) {
        guard let token else { return }
        server.notify("$/progress", ["token": token, "value": value])
    }

    func begin(title: String, message: String) {
        send(["kind": "begin", "title": .string(title), "cancellable": true, "message": .string(message), "percentage": 0])
    }

    func report(_ message: String, percentage: Int, extra: [String: JSON] = [:]) {
        var value: [String: JSON] = ["kind": "report", "message": .string(message), "percentage": .int(min(100, max(0, percentage)))]
        value.merge(extra) { a, _ in a }
        send(.object(value))
    }

    func end(_ message: String) { send(["kind": "end", "message": .string(message)]) }
}
