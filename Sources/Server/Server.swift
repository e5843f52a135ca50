import Foundation
import JSONRPC
import Imaging
import Models
import ServerProtocol
import Sketching

/// A document's uri as the exact bytes the client sent: two uris are one document only when
/// their UTF-8 is the same (not when Swift's String calls them equal, e.g. NFC and NFD forms).
struct DocumentKey: Hashable {
    let bytes: [UInt8]
    init(_ uri: String) { bytes = Array(uri.utf8) }
}

/// A request on its way to a handler.
struct Request: @unchecked Sendable {
    let id: JSON
    let method: String
    let params: Params
    let cancel: CancelFlag
}

/// The JSON-RPC engine over stdio: reads on its own thread, answers light requests at once,
/// runs each document's heavy requests in order on that document's queue, one heavy job on the
/// cores at a time.
public final class Server: @unchecked Sendable {
    enum Phase { case uninitialized, running, shutDown }

    let options: ServerOptions
    let writer: MessageWriter
    let gate = ComputeGate()
    let state: StateFolder
    private let phase = Locked(Phase.uninitialized)
    /// Open documents by their uri's exact bytes: LSP uris are opaque, and Swift's String
    /// equality would make `café` in NFC and in NFD one document.
    private let documents = Locked<[DocumentKey: Document]>([:])
    /// Requests in flight, by the serialised id.
    private let inFlight = Locked<[String: (flag: CancelFlag, uri: String?, method: String)]>([:])
    private let models = Locked<PerceptionModels?>(nil)
    private let encoders = Locked<[String: any PerceptualEncoder]>([:])
    private var terminationSource: DispatchSourceSignal?
    /// Progress tokens in use, and the request each belongs to (`window/workDoneProgress/cancel`).
    private let progressTokens = Locked<[String: CancelFlag]>([:])
    /// The client said `capabilities.window.workDoneProgress`: long requests without a token
    /// get one from `window/workDoneProgress/create` (LSP 3.15 server-initiated progress).
    private let clientCreatesProgress = Locked(false)
    /// Our own requests to the client, waiting for their answers, by id.
    private let outgoing = Locked<[String: @Sendable (JSON) -> Void]>([:])
    private let outgoingCount = Locked(0)
    private let input: Int32
    /// Requests that only read published state (getSVG, getPreview, getStatus, shutdown's wait):
    /// answered in order here, off the thread that reads stdin.
    private let reads = DispatchQueue(label: "clipascene.reads")
    /// Requests read and not yet answered (what `exit` and the end of input wait for).
    let ledger = AnswerLedger()
    /// How long `exit` or the end of input after `shutdown` waits for the answers still owed.
    /// Shutdown cancels running work, which stops within a step, so this is only a bound.
    static let answerWait = 60.0
    /// Set once the server stops (shutdown, SIGTERM, the end of input): no more speculation.
    private let stopping = Locked(false)
    /// The number of the next traced event (`ServerOptions.traceEvents`).
    private let eventCount = Locked(0)
    /// The cells all documents may compute ahead together (none with `--ordered`).
    let cellBudget: CellBudget

    public init(options: ServerOptions, input: Int32 = 0, output: Int32 = 1) {
        self.options = options
        self.input = input
        writer = MessageWriter(fd: output, onBrokenPipe: { _exit(1) })
        state = StateFolder(path: options.stateDirectory, enabled: options.snapshots)
        cellBudget = CellBudget(limit: options.ordered ? 0 : options.speculateCells)
        state.onHealthChange = { [weak self] error in
            // LSP's showMessage: editors show it to the user; 1 = error, 3 = info.
            let message = error.map { "clipascene: \($0). Automatic snapshots are not being saved." }
                ?? "clipascene: automatic snapshots are being saved again."
            guard let params = try? ShowMessageParams(type: error == nil ? ShowMessageParams.info : ShowMessageParams.error,
                                                      message: message).json() else { return }
            self?.notify("window/showMessage", params)
        }
    }

    /// Reads until end of input, then exits the process (0 after `shutdown`, else 1, as LSP).
    public func run() -> Never {
        signal(SIGPIPE, SIG_IGN)
        handleTermination()
        let pruned = state.prune(maxAge: options.snapshotMaxAge, maxBytes: options.snapshotMaxBytes)
        if pruned > 0 {
            FileHandle.standardError.write(Data("clipascene serve: removed \(pruned) old snapshot(s) from \(state.path) (retention rule)\n".utf8))
        }
        var reader = MessageReader(limit: options.maxMessageBytes)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            let messages = chunk.withUnsafeBytes { reader.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            for incoming in messages {
                switch incoming {
                case .message(let json, let framing):
                    writer.adopt(framing)
                    handle(json)
                case .inexactText(let json, let at, let framing):
                    writer.adopt(framing)
                    handle(json, inexactTextAt: at)
                case .malformed(let error, let framing):
                    if let framing { writer.adopt(framing) }
                    refuse(id: .null, error: error)
                }
            }
        }
        stopping.withLock { $0 = true }
        if options.ordered {
            // A script of requests has ended: answer everything it queued, save, and succeed.
            waitForDocuments()
            reads.sync {}
            stopAndSave()
            finish(code: ledger.waitUntilSettled(seconds: Self.answerWait) ? 0 : 1)
        }
        // After `shutdown`: its answer and every one owed before it go out first.
        if phase.current == .shutDown { finishAfterShutdown() }
        // The client closed its end without `shutdown`: stop now (snapshots already on disk
        // stay); a script piped in that ended early is told how to get its answers.
        let owed = ledger.count
        if owed > 0 && isatty(input) == 0 {
            FileHandle.standardError.write(Data(("clipascene serve: input ended with \(owed) request(s) unanswered and no shutdown; "
                + "to run a script of requests to the end, pipe it to `clipascene serve --ordered`, or end it with shutdown\n").utf8))
        }
        finish(code: 1)
    }

    /// Exits 0 once `shutdown` and every request read before it are answered; 1 (saying which
    /// are missing) if they are not within `answerWait`.
    func finishAfterShutdown() -> Never {
        if ledger.waitUntilSettled(seconds: Self.answerWait) { finish(code: 0) }
        FileHandle.standardError.write(Data("clipascene serve: \(ledger.count) request(s) still unanswered after \(Int(Self.answerWait)) s; exiting 1\n".utf8))
        finish(code: 1)
    }

    /// Messages queued reach the client (unless it has stopped reading for `answerWait`) and
    /// snapshots queued reach the disk, then the process ends.
    func finish(code: Int32) -> Never {
        writer.drain(seconds: Self.answerWait)
        state.flush()
        _exit(code)
    }

    // MARK: Messages

    /// `inexactTextAt`: where the message had text that is not valid Unicode (see
    /// `JSON.parseReportingReplacements`); such a request is refused, such a notification dropped.
    func handle(_ message: JSON, inexactTextAt: String? = nil) {
        guard case .object(let o) = message else {
            if case .array = message {
                return refuse(id: .null, error: .invalidRequest("batches are not supported; send one message at a time"))
            }
            return refuse(id: .null, error: .invalidRequest("a message must be a JSON object, got \(message.typeName)"))
        }
        let id = o["id"]
        if let id {
            switch id {
            case .string, .int, .numberText, .double, .null: break
            default: return refuse(id: .null, error: .invalidRequest("id must be a string or a number, got \(id.typeName)"))
            }
        }
        guard let methodValue = o["method"] else {
            // A response to a request of ours, or junk.
            if o["result"] != nil || o["error"] != nil {
                if let id, let resolve = outgoing.withLock({ $0.removeValue(forKey: id.text) }) { resolve(message) }
                return
            }
            return refuse(id: id ?? .null, error: .invalidRequest("a request needs a \"method\" (a string)"))
        }
        guard case .string(let method) = methodValue else {
            return refuse(id: id ?? .null, error: .invalidRequest("method must be a string, got \(methodValue.typeName)"))
        }
        if let version = o["jsonrpc"], version != "2.0" {
            return refuse(id: id ?? .null, error: .invalidRequest("jsonrpc must be \"2.0\", got \(version.text)"))
        }
        if let inexactTextAt {
            // Uris are compared byte for byte: text read with U+FFFD in place of what was sent
            // could name another document (two different invalid uris would read the same).
            let what = "\(inexactTextAt) is not valid Unicode text (invalid UTF-8, or a \\u escape of an unpaired surrogate); send UTF-8"
            guard let id else {
                FileHandle.standardError.write(Data("clipascene serve: dropped the \(method) notification: \(what)\n".utf8))
                return
            }
            return refuse(id: id, error: .invalidParams(what))
        }
        guard let id else { return notification(method, o["params"]) }
        let params: Params
        do { params = try Params(o["params"]) } catch let e as RPCError { return refuse(id: id, error: e) } catch { return }
        request(id: id, method: method, params: params)
    }

    func notification(_ method: String, _ params: JSON?) {
        switch method {
        case "exit":
            // LSP: 0 after shutdown, 1 without. After shutdown, its answer (and every answer
            // owed before it) is written first: a script's last replies are not lost.
            if phase.current == .shutDown { finishAfterShutdown() }
            finish(code: 1)
        case "$/cancelRequest":
            guard let id = params?["id"] else { return }
            inFlight.withLock { $0[id.text] }?.flag.cancel(.client)
        case "window/workDoneProgress/cancel":
            // An editor's Cancel button on a progress report (VS Code's, for one).
            guard let token = params?["token"] else { return }
            progressTokens.withLock { $0[token.text] }?.cancel(.client)
        default:
            // `initialized`, `$/setTrace` and other notifications need nothing from us.
            break
        }
    }

    func request(id: JSON, method: String, params: Params) {
        ledger.expect(id)
        let current = phase.current
        if method == "initialize" {
            guard current == .uninitialized else { return respond(id: id, error: .invalidRequest("initialize was already called")) }
            phase.withLock { $0 = .running }
            let wantsProgress = params.object["capabilities"]?["window"]?["workDoneProgress"] == .bool(true)
            clientCreatesProgress.withLock { $0 = wantsProgress }
            return respond(id: id, result: initializeResult())
        }
        guard current != .uninitialized else {
            return respond(id: id, error: RPCError(code: RPCError.serverNotInitializedCode,
                                                   message: "the server is not initialized: send initialize first"))
        }
        guard current != .shutDown else {
            return respond(id: id, error: .invalidRequest("the server is shutting down; only the exit notification is accepted"))
        }
        guard let handler = Self.handlers[method] else {
            return respond(id: id, error: RPCError(code: RPCError.methodNotFoundCode,
                                                   message: "unknown method \(method.debugDescription); methods: \(Self.methodNames.joined(separator: ", "))"))
        }
        // From here on every other request is refused, in the order the client sent them.
        if method == "shutdown" { phase.withLock { $0 = .shutDown } }
        let flag = CancelFlag()
        let request = Request(id: id, method: method, params: params, cancel: flag)
        switch handler {
        case .immediate(let body):
            // Never on this thread: reading stdin must not wait for rendering, or a cancel
            // queued behind sixty previews would take effect seconds late.
            inFlight.withLock { $0[id.text] = (flag, nil, method) }
            // --ordered: first everything sent before it, on every document (a marker queued now).
            let before = DispatchGroup()
            if options.ordered {
                for document in openDocuments {
                    before.enter()
                    document.queue.async { before.leave() }
                }
            }
            reads.async { [self] in
                before.wait()
                defer { _ = inFlight.withLock { $0.removeValue(forKey: id.text) } }
                if flag.isCancelled { return respond(id: id, error: flag.error("\(method) was cancelled before it started")) }
                answer(request) { try body(self, request) }
            }
        case .reading(let body):
            let uri: String
            do { uri = try params.string("uri") } catch let e as RPCError { return respond(id: id, error: e) } catch { return }
            guard let document = document(uri: uri) else { return respond(id: id, error: unknownDocument(uri)) }
            if options.ordered {
                enqueue(request, on: document, uri: uri) { try body(document, request) }
            } else {
                inFlight.withLock { $0[id.text] = (flag, uri, method) }
                // A document still loading answers as soon as its first drawing is published
                // (or its load fails), not after the work queued behind the load.
                document.whenPublished { [self] in
                    reads.async { [self] in
                        defer { _ = inFlight.withLock { $0.removeValue(forKey: id.text) } }
                        if flag.isCancelled { return respond(id: id, error: flag.error("\(method) was cancelled before it started")) }
                        answer(request) { try body(document, request) }
                    }
                }
                // Nothing queued that could publish: answer now (no reader waits forever).
                if documents.withLock({ _ in document.queued == 0 }) { document.releaseReaders() }
            }
        case .document(let creates, let body):
            let uri: String
            do {
                uri = try params.string("uri")
                guard !uri.isEmpty else { throw RPCError.invalidParams("uri must not be empty") }
            } catch let e as RPCError { return respond(id: id, error: e) } catch { return }
            // Every request for a uri goes to the same Document, in the order sent, for as long
            // as it has a session or work queued; so a loadImage sent right after closeDocument
            // reopens it after the close has run, and a failed load leaves nothing behind.
            let limit = options.maxDocuments
            let (document, full): (Document?, Bool) = documents.withLock { docs in
                if let d = docs[DocumentKey(uri)] {
                    d.queued += 1
                    return (d, false)
                }
                guard creates else { return (nil, false) }
                // Each document holds about 27 MB: past the limit, one must be closed first.
                guard docs.count < limit else { return (nil, true) }
                let d = Document(uri: uri, server: self)
                d.queued = 1
                docs[DocumentKey(uri)] = d
                return (d, false)
            }
            if full {
                return respond(id: id, error: .failed("the server holds \(limit) documents, its limit (--max-documents \(limit)); "
                                                        + "close one with closeDocument before opening \(uri.debugDescription)"))
            }
            guard let document else { return respond(id: id, error: unknownDocument(uri)) }
            // Closing a document stops what is running or queued for it first; a new
            // abstraction supersedes a running step or matrix, so a slider answers at once.
            if method == "closeDocument" { cancelRequests(of: uri, except: id, reason: "the document was closed") }
            trace("arrived \(method) \(uri)")
            if method == "setAbstraction" && !options.ordered {
                cancelRequests(of: uri, except: id, methods: ["step", "runMatrix"], reason: "superseded by setAbstraction")
            }
            enqueue(request, on: document, uri: uri, counted: true) { try body(document, request) }
        }
    }

    /// Runs a request in order on its document's queue. `counted`: the dispatch already
    /// counted it in `document.queued` (inside the table lock that found or made the document).
    private func enqueue(_ request: Request, on document: Document, uri: String, counted: Bool = false,
                         _ body: @escaping @Sendable () throws -> JSON) {
        let id = request.id, method = request.method, flag = request.cancel
        if !counted { documents.withLock { _ in document.queued += 1 } }
        inFlight.withLock { $0[id.text] = (flag, uri, method) }
        document.queue.async { [self] in
            defer {
                _ = inFlight.withLock { $0.removeValue(forKey: id.text) }
                finished(document)
                document.scheduleSpeculation()
            }
            trace("started \(method) \(uri)")
            if flag.isCancelled { return respond(id: id, error: flag.error("\(method) was cancelled before it started")) }
            answer(request) { try body() }
        }
    }

    /// Until every document's queued work is done (`--ordered`: getStatus and the end of input).
    func waitForDocuments() {
        while true {
            let busy = documents.withLock { docs in docs.values.filter { $0.queued > 0 } }
            if busy.isEmpty { return }
            for document in busy { document.queue.sync {} }
        }
    }

    /// After each queued request: a document with no session and nothing queued is forgotten.
    private func finished(_ document: Document) {
        document.releaseReaders()   // a failed load: they answer that the document is unknown
        let empty = !document.hasSession
        documents.withLock { docs in
            document.queued -= 1
            if document.queued == 0 && empty && docs[DocumentKey(document.uri)] === document {
                docs.removeValue(forKey: DocumentKey(document.uri))
            }
        }
    }

    func unknownDocument(_ uri: String) -> RPCError {
        let (others, known) = documents.withLock { docs in
            (docs.filter { $0.key != DocumentKey(uri) }.map(\.value.uri).sorted(), docs[DocumentKey(uri)] != nil)
        }
        // Still in the table (work queued for it) but without a sketch: it was just closed, or
        // its load failed or has not finished. Never list the uri as open in the same breath.
        let why = known ? "\(uri.debugDescription) has no sketch now: it was closed, or its loadImage failed or has not finished; call loadImage (or restoreSession) for it"
                        : "unknown uri \(uri.debugDescription): call loadImage (or restoreSession) for it first"
        return .invalidParams(why + (others.isEmpty ? " (no other documents are open)" : "; open documents: \(others.joined(separator: ", "))"))
    }

    /// Runs a handler and sends its result or error; never lets an error escape.
    func answer(_ request: Request, _ body: () throws -> JSON) {
        do {
            respond(id: request.id, result: try body())
        } catch let e as RPCError {
            respond(id: request.id, error: e)
        } catch {
            respond(id: request.id, error: .failed("\(request.method) failed: \(error)"))
        }
    }

    /// Answers are settled in the ledger once written, so `exit` waits for them to reach the pipe.
    func respond(id: JSON, result: JSON) {
        writer.send(["jsonrpc": "2.0", "id": id, "result": result]) { [ledger] in ledger.answered(id) }
    }

    func respond(id: JSON, error: RPCError) {
        writer.send(["jsonrpc": "2.0", "id": id, "error": error.json]) { [ledger] in ledger.answered(id) }
    }

    /// The error answer to a message that never became a request (not JSON, no method, a bad
    /// id): nothing in the ledger is settled by it, even if it reuses a pending request's id.
    func refuse(id: JSON, error: RPCError) {
        writer.send(["jsonrpc": "2.0", "id": id, "error": error.json])
    }

    func notify(_ method: String, _ params: JSON) {
        writer.send(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }

    // MARK: Progress tokens

    /// A token made by `window/workDoneProgress/create`, when the client supports it and
    /// confirms within a few seconds; nil otherwise (a client that never answers is not asked again).
    func createProgressToken() -> JSON? {
        guard clientCreatesProgress.current else { return nil }
        let n = outgoingCount.withLock { c -> Int in
            c += 1
            return c
        }
        let token = JSON.string("clipascene-progress-\(n)"), id = JSON.string("clipascene-\(n)")
        let answered = DispatchSemaphore(value: 0)
        let accepted = Locked(false)
        outgoing.withLock {
            $0[id.text] = { reply in
                accepted.withLock { $0 = reply["error"] == nil }
                answered.signal()
            }
        }
        writer.send(["jsonrpc": "2.0", "id": id, "method": "window/workDoneProgress/create", "params": ["token": token]])
        if answered.wait(timeout: .now() + 5) == .timedOut {
            _ = outgoing.withLock { $0.removeValue(forKey: id.text) }
            clientCreatesProgress.withLock { $0 = false }
            FileHandle.standardError.write(Data("clipascene serve: the client did not answer window/workDoneProgress/create; progress goes only to requests that carry a workDoneToken\n".utf8))
            return nil
        }
        return accepted.current ? token : nil
    }

    func register(progress token: JSON, for flag: CancelFlag) { progressTokens.withLock { $0[token.text] = flag } }

    func unregister(progress token: JSON) { _ = progressTokens.withLock { $0.removeValue(forKey: token.text) } }

    // MARK: Shared state

    /// The networks, loaded on first use (inside the compute gate).
    func perceptionModels() throws -> PerceptionModels {
        if let m = models.current { return m }
        do {
            let loaded = try PerceptionModels.loadDefault(checkpoints: options.checkpointDirectory)
            models.withLock { $0 = loaded }
            return loaded
        } catch {
            throw RPCError.failed("the model weights are not usable: \(error). Run `checkpoint/fetch` (or `make run`) to get them.")
        }
    }

    /// An encoder by name: the default from `perceptionModels`, others loaded on first use.
    func encoder(named name: String) throws -> any PerceptualEncoder {
        if name == EncoderKind.default.rawValue { return try perceptionModels().encoder }
        if let e = encoders.withLock({ $0[name] }) { return e }
        do {
            let loaded = try PerceptionModels.loadEncoder(named: name, checkpoints: options.checkpointDirectory)
            encoders.withLock { $0[name] = loaded }
            return loaded
        } catch {
            throw RPCError.failed("the \(name) encoder is not usable: \(error)")
        }
    }

    /// Stops the requests of `uri` (all, or those of `methods`) on the server's own initiative.
    func cancelRequests(of uri: String, except id: JSON, methods: Set<String>? = nil, reason: String) {
        inFlight.withLock { requests in
            for (key, entry) in requests where entry.uri.map(DocumentKey.init) == DocumentKey(uri) && key != id.text && (methods?.contains(entry.method) ?? true) {
                entry.flag.cancel(.server(reason))
            }
        }
    }

    var openDocuments: [Document] { documents.withLock { Array($0.values) }.sorted { $0.uri < $1.uri } }

    func document(uri: String) -> Document? { documents.withLock { $0[DocumentKey(uri)] } }

    // MARK: Lifecycle

    func initializeResult() -> JSON {
        let store = try? CheckpointStore.locate(options.checkpointDirectory)
        func present(_ checkpoint: String) -> Bool {
            guard let store, let entry = store.manifest.models.first(where: { $0.name == checkpoint }) else { return false }
            return store.status(of: entry) == .valid
        }
        let engine = EngineCapabilities(
            methods: Self.methodNames,
            encoders: EncoderKind.allCases.map { EncoderAvailability(name: $0.rawValue, weightsPresent: present($0.checkpointName),
                                                                     isDefault: $0 == .default) },
            subjectMaskWeightsPresent: present("u2netp"),
            limits: Limits(maxMessageBytes: options.maxMessageBytes, maxPixels: ImageFile.defaultMaxPixels, maxDocuments: options.maxDocuments,
                           strokes: Abstraction.strokesRange, fidelity: Abstraction.fidelityRange,
                           simplicity: Abstraction.simplicityRange, iterations: Abstraction.iterationsRange),
            stateDirectory: state.path, snapshotIntervalSeconds: options.snapshotInterval)
        // Every part of it is a plain value: encoding cannot fail.
        return (try? InitializeResult(engine: engine, version: options.version).json()) ?? .null
    }

    /// `shutdown`: cancels everything running, waits for each document's queue to drain and
    /// its snapshot to reach the disk, then answers null.
    func shutdown() -> JSON {
        phase.withLock { $0 = .shutDown }
        stopAndSave()
        return .null
    }

    /// Cancels every request, lets each document finish its current step, writes each
    /// document's latest state, and waits until the snapshots are on disk.
    func stopAndSave() {
        stopping.withLock { $0 = true }
        inFlight.withLock { for entry in $0.values { entry.flag.cancel(.server("the server is shutting down")) } }
        for document in openDocuments { document.queue.sync { document.saveIfChanged() } }
        state.flush()
    }

    /// SIGTERM (a service manager, `kill`, a notebook kernel going away) saves like shutdown,
    /// then exits with 143 (128 + SIGTERM) as a terminated process does.
    private func handleTermination() {
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { [self] in
            FileHandle.standardError.write(Data("clipascene serve: SIGTERM: saving the documents' state, then exiting\n".utf8))
            // Nothing more goes to the client: a client that reads nothing must not hold a step
            // (blocked writing its progress) and with it the save.
            writer.abandon()
            stopAndSave()
            _exit(143)
        }
        source.resume()
        terminationSource = source
    }

    func status() -> Status {
        let error = state.lastError.current
        return Status(version: options.version, documents: openDocuments.filter(\.isVisible).map(\.status),
                      maxDocuments: options.maxDocuments, speculateCells: cellBudget.limit, stateDirectory: state.path,
                      snapshots: SnapshotHealth(enabled: state.enabled, healthy: error == nil, error: error))
    }
}

extension Server: DocumentServices {
    var snapshotInterval: Double { options.snapshotInterval }

    var speculationAllowed: Bool { cellBudget.limit > 0 && !stopping.current }

    /// One numbered line on stderr per event when `ServerOptions.traceEvents` is set.
    func trace(_ event: @autoclosure () -> String) {
        guard options.traceEvents else { return }
        let n = eventCount.withLock { n -> Int in n += 1; return n }
        FileHandle.standardError.write(Data("clipascene serve: event \(n): \(event())\n".utf8))
    }
}
