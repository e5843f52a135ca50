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

// Before anything else: one OpenBLAS kernel set on every CPU, so a seed draws the same bytes
// everywhere (may restart the process; see BLASKernels).
if let warning = BLASKernels.pinForReproducibility() {
    FileHandle.standardError.write(Data("clipascene: \(warning)\n".utf8))
}
ComputeThreads.apply()
// Before any thread allocates: the heap policy (one arena, no trimming) must come first.
ComputeThreads.keepLargeAllocations()
// For the determinism tests: a throwaway allocation of this many bytes (at most 1 MiB) moves
// every later array to other addresses, so two processes lay out their heaps differently.
if let text = ProcessInfo.processInfo.environment["CLIPASCENE_HEAP_SHIFT"], let bytes = Int(text), (1...(1 << 20)).contains(bytes),
   let block = malloc(bytes) {
    memset(block, 1, bytes)   // touched, so it cannot be elided; never freed, on purpose
}
CLIPascene.main()
