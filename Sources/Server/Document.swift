import Foundation
import JSONRPC
import Imaging
import Models
import ServerProtocol
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

/// What a document needs from the server, and nothing more: the compute gate, the models,
/// the snapshot folder and interval, and the client's side of progress notifications.
protocol DocumentServices: AnyObject, Sendable {
    var gate: ComputeGate { get }
    var state: StateFolder { get }
    var snapshotInterval: Double { get }
    func perceptionModels() throws -> PerceptionModels
    func encoder(named name: String) throws -> any PerceptualEncoder
    func notify(_ method: String, _ params: JSON)
    func createProgressToken() -> JSON?
    func register(progress token: JSON, for flag: CancelFlag)
    func unregister(progress token: JSON)
    /// The error for a uri with no document, naming the open ones.
    func unknownDocument(_ uri: String) -> RPCError
}

/// One open document: its session, used only on its own serial queue, and the published copy.
final class Document: @unchecked Sendable {
    let uri: String
    unowned let server: any DocumentServices
    let queue: DispatchQueue
    let published = Locked<PublishedState?>(nil)
    let busy = Locked<String?>(nil)
    /// Requests dispatched to this document and not yet finished (guarded by the server's
    /// document table lock).
    var queued = 0

    // Touched only on `queue`.
    var session: SketchSession?
    /// The settings the next loadImage starts from: the latest setAbstraction's, kept when a
    /// new image is loaded into the document (the session holds the ones it runs with).
    var loadSettings = Abstraction()
    var closed = false
    var lastSnapshot = Date()
    var snapshotDirty = false

    init(uri: String, server: any DocumentServices) {
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
    func reopen() {
        guard closed else { return }
        closed = false
        loadSettings = Abstraction()
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
        releaseReaders()
    }

    /// Reads waiting for the document's first published state (guarded by its own lock).
    private let waitingReaders = Locked<[@Sendable () -> Void]>([])

    /// Runs `read` once the document has a published state, or when the request that was to
    /// make one has finished without it: at once if it already has one.
    func whenPublished(_ read: @escaping @Sendable () -> Void) {
        let now = waitingReaders.withLock { waiting -> Bool in
            if published.current != nil { return true }
            waiting.append(read)
            return false
        }
        if now { read() }
    }

    /// Runs the waiting reads (after a publish, or after any queued request of the document ends).
    func releaseReaders() {
        let waiting = waitingReaders.withLock { w -> [@Sendable () -> Void] in
            defer { w = [] }
            return w
        }
        for read in waiting { read() }
    }

    /// The published state; reads wait for a queued load, so none left means the document is gone.
    func publishedOrFail() throws -> PublishedState {
        guard let p = published.current else { throw server.unknownDocument(uri) }
        return p
    }

    var status: DocumentStatus {
        let p = published.current
        return DocumentStatus(uri: uri, busy: busy.current, step: p?.step ?? 0, totalSteps: p?.totalSteps ?? 0,
                              loss: wireNumber(p?.loss), bestLoss: wireNumber(p?.bestLoss))
    }

    // MARK: Snapshots

    func autosnapshot(_ session: SketchSession) {
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
    func snapshotAfterRequest(_ session: SketchSession) {
        guard server.snapshotInterval > 0 else { return autosnapshot(session) }
        if Date().timeIntervalSince(lastSnapshot) >= 1 { return autosnapshot(session) }
        snapshotDirty = true
        queue.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self, self.snapshotDirty, !self.closed, let s = self.session, s === session else { return }
            self.server.gate.run { self.autosnapshot(s) }
        }
    }

}
