import JSONRPC
import ArgumentParser
import Foundation
import Server
import Tensors

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the JSON-RPC engine on stdin/stdout (LSP framing or one JSON message per line).",
        discussion: """
        The protocol is described in protocol/README.md and protocol/clipascene.openrpc.json. \
        stdout carries protocol messages only; logs go to stderr.
        """)

    @Option(help: "Largest accepted message in bytes; larger ones get an error and are skipped.")
    var maxMessageBytes: Int = 64 << 20

    @Option(help: "Documents open at once (about 27 MB each); a loadImage for one more is refused.")
    var maxDocuments: Int = 100

    @Option(help: "Folder for automatic snapshots (default: $CLIPASCENE_STATE_DIR, $XDG_STATE_HOME/clipascene or ~/.local/state/clipascene).")
    var stateDir: String?

    @Option(help: "Seconds between automatic snapshots during a long step (0: only after each request).")
    var snapshotInterval: Double = 10

    @Option(help: "Threads for compute (several servers on one machine: split the cores).")
    var threads: Int?

    @Option(help: "Checkpoint folder (default: checkpoint/ found beside the executable, or $CLIPASCENE_CHECKPOINTS).")
    var checkpoints: String?

    @Flag(help: "Write no automatic snapshots (saveSession still writes where asked).")
    var noSnapshots = false

    @Option(help: "Retention rule, applied at start-up: remove automatic snapshots older than this many days…")
    var snapshotMaxAgeDays: Double = 7

    @Option(help: "…then the oldest until the state folder holds at most this many megabytes.")
    var snapshotMaxMegabytes: Int = 2048

    @Option(help: "Cells finished documents compute ahead while idle (simplicity and fidelity ±1), all documents together, about 75 MB each; 0 turns speculation off.")
    var speculateCells: Int = ServerOptions().speculateCells

    @Flag(help: "For scripts piped in: answer every request of a document in the order sent (getSVG after a step sees that step); at the end of input finish everything queued and exit 0.")
    var ordered = false

    func validate() throws {
        guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes must be at least 1024, got \(maxMessageBytes)") }
        guard (1...100_000).contains(maxDocuments) else { throw ValidationError("--max-documents must be 1…100000, got \(maxDocuments)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1…256, got \(threads)") }
        guard snapshotMaxAgeDays >= 0, snapshotMaxAgeDays.isFinite, (0...(1 << 30)).contains(snapshotMaxMegabytes) else {
            throw ValidationError("--snapshot-max-age-days must be ≥ 0 and --snapshot-max-megabytes 0…\(1 << 30)")
        }
        guard (0...16).contains(speculateCells) else { throw ValidationError("--speculate-cells must be 0…16, got \(speculateCells)") }
        guard snapshotInterval >= 0, snapshotInterval.isFinite else {
            throw ValidationError("--snapshot-interval must be ≥ 0 seconds, got \(snapshotInterval)")
        }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        var options = ServerOptions()
        options.maxMessageBytes = maxMessageBytes
        options.maxDocuments = maxDocuments
        if let stateDir { options.stateDirectory = stateDir }
        options.snapshotInterval = snapshotInterval
        options.checkpointDirectory = checkpoints
        options.ordered = ordered
        options.speculateCells = speculateCells
        options.snapshots = !noSnapshots
        options.snapshotMaxAge = snapshotMaxAgeDays * 24 * 3600
        options.snapshotMaxBytes = snapshotMaxMegabytes << 20
        options.version = clipasceneVersion
        Server(options: options).run()
    }
}
