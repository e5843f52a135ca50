import Foundation

/// How `clipascene serve` was started: limits, the snapshot folder and its rules, the weights.
public struct ServerOptions: Sendable {
    /// Largest message accepted, in bytes; larger ones are answered with an error and skipped.
    public var maxMessageBytes = 64 << 20
    /// Documents open at once; each holds its photo, networks and optimisers (about 27 MB), so
    /// 100 stay under 3 GB. A `loadImage` for one more is refused, naming the limit.
    public var maxDocuments = 100
    /// Where automatic snapshots go (see `StateFolder`).
    public var stateDirectory = StateFolder.defaultPath()
    /// Seconds between automatic snapshots during a long `step` (0: only at the end of each request).
    public var snapshotInterval: Double = 10
    /// Checkpoint folder (nil: `CheckpointStore.locate`'s search).
    public var checkpointDirectory: String? = nil
    public var version = "0"
    /// Scripts over pipes: every request of a document, reads included, is answered in the
    /// order sent, and the end of input finishes everything queued, then exits 0.
    public var ordered = false
    /// Automatic snapshots (`--no-snapshots` turns them off).
    public var snapshots = true
    /// The state folder's retention rule, applied at start-up: snapshots older than this go…
    public var snapshotMaxAge: Double = 7 * 24 * 3600
    /// …then the oldest until the folder holds at most this many bytes.
    public var snapshotMaxBytes = 2 << 30
    /// Cells finished, idle documents compute ahead (their abstractions' neighbours), all
    /// documents together, each about 75 MB; 0 turns speculation off. Never with `ordered` (a
    /// script's answers follow its requests alone).
    public var speculateCells = 2
    /// Each request's arrival and start and each round of speculation, numbered, on stderr
    /// (`CLIPASCENE_TRACE_EVENTS=1`): the order of events, for tests.
    public var traceEvents = ProcessInfo.processInfo.environment["CLIPASCENE_TRACE_EVENTS"] == "1"

    public init() {}
}
