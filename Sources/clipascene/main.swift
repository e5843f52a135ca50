import ArgumentParser
import Foundation
import Imaging
import Models
import Tensors

/// The release version, reported by `--version` and (later) the server's `initialize`.
let clipasceneVersion = "0.1.0"

struct CLIPascene: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipascene",
        abstract: "Scene sketching at chosen levels of fidelity and simplicity (CLIPascene), on the CPU.",
        discussion: """
        Weights live in checkpoint/ (run `checkpoint/fetch`); set CLIPASCENE_CHECKPOINTS to use \
        another folder and CLIPASCENE_THREADS to cap the threads used.
        """,
        version: clipasceneVersion,
        subcommands: [Sketch.self, Matrix.self, Serve.self, Batch.self, Inspect.self, Prepare.self, Bench.self])
}

/// Errors meant for a person: printed as they are, exit code 1.
struct UserFacingError: Error, CustomStringConvertible {
    let description: String
}


ComputeThreads.apply()
// Before any thread allocates: the heap policy (one arena, no trimming) must come first.
ComputeThreads.keepLargeAllocations()
CLIPascene.main()
