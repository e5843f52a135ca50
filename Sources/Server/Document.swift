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
    /// The cells all documents may compute ahead together (limit 0: speculation is off).
    var cellBudget: CellBudget { get }
    /// False once the server is stopping.
    var speculationAllowed: Bool { get }
    func trace(_ event: @autoclosure () -> String)
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
    /// Cells computed ahead while the document is finished and idle (nil: speculation is off).
    let speculation: Speculation?
    /// A round of speculation is queued (touched only on `queue`).
    var speculationQueued = false
    /// What getStatus shows of the speculated cells (published from `queue`).
    let speculated = Locked<[SpeculatedCell]>([])

    init(uri: String, server: any DocumentServices) {
        self.uri = uri
        self.server = server
        queue = DispatchQueue(label: "clipascene.document")
        speculation = server.cellBudget.limit > 0 ? Speculation(budget: server.cellBudget) : nil
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
                              loss: wireNumber(p?.loss), bestLoss: wireNumber(p?.bestLoss), speculatedCells: speculated.current)
    }

    // MARK: Speculation

    /// On `queue`, after each request: when the document is finished and idle, queue a round of
    /// speculation (after `delay` seconds). Requests sent meanwhile queue ahead of it.
    func scheduleSpeculation(after delay: Double = 0) {
        guard let speculation else { return }
        // Cells computed for an earlier state (or a closed document) give their memory back now.
        if let session, !closed { speculation.validate(against: session) } else { speculation.clear() }
        publishSpeculation()
        guard !speculationQueued, server.speculationAllowed, !closed, session?.isComplete == true else { return }
        speculationQueued = true
        queue.asyncAfter(deadline: .now() + delay) { [weak self] in self?.speculationRound() }
    }

    /// On `queue`: one step round of one cell (or making a new cell), only while no other job
    /// holds or waits for the cores; then the next round is queued behind any request that came.
    private func speculationRound() {
        speculationQueued = false
        guard let speculation, server.speculationAllowed, !closed, let session, session.isComplete else { return }
        guard server.gate.acquireIfFree() else { return scheduleSpeculation(after: 0.05) }
        var more = false
        do {
            defer { server.gate.release() }
            let wake: @Sendable () -> Void = { [weak self] in
                guard let document = self else { return }
                document.queue.async { document.scheduleSpeculation() }
            }
            if let (cell, isNew) = try speculation.nextWork(around: session, wake: wake, make: { try makeCell($0, from: session) }) {
                server.trace("speculation round fidelity \(cell.abstraction.fidelity) simplicity \(cell.abstraction.simplicity) \(uri)")
                if !isNew { cell.step(2) }
                more = true
            }
        } catch {
            FileHandle.standardError.write(Data("clipascene serve: speculation for \(uri) stopped: \(error)\n".utf8))
        }
        publishSpeculation()
        if more { scheduleSpeculation() }
    }

    /// A cell at `abstraction`: a copy of `current` that adopted it, so a cell is by
    /// construction what adopting it would give (continued, rewound or started again).
    private func makeCell(_ abstraction: Abstraction, from current: SketchSession) throws -> SketchSession {
        let copy = current.copy()
        try copy.adopt(abstraction)
        return copy
    }

    /// On `queue`: getStatus's copy of the cells.
    func publishSpeculation() {
        let cells = speculation?.cells.map {
            SpeculatedCell(fidelity: $0.abstraction.fidelity, simplicity: $0.abstraction.simplicity, step: $0.stepsDone,
                           totalSteps: $0.totalSteps)
        } ?? []
        speculated.withLock { $0 = cells }
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
