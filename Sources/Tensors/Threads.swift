import CBLAS
import Dispatch
import Synchronization

/// The one place that decides how many threads compute uses.
///
/// Two pools could fight over the cores: OpenBLAS's own threads and our
/// `parallelFor` loops. The rule: a BLAS call made from inside a `parallelFor`
/// body runs single-threaded (the loop already owns the cores); a BLAS call
/// made outside uses `count` threads.
public enum ComputeThreads {
    private static let state = Mutex<Int>(defaultCount())

    /// The machine's cores, or `CLIPASCENE_THREADS` when set to a positive number.
    public static func defaultCount() -> Int {
        if let text = getenvString("CLIPASCENE_THREADS"), let n = Int(text), n > 0 {
            return n
        }
        return max(1, sysconfCores())
    }

    /// Threads used by BLAS and by `parallelFor`.
    public static var count: Int { state.withLock { $0 } }

    /// Sets the thread budget (clamped to at least 1) for BLAS and our loops.
    public static func set(_ n: Int) {
        let value = max(1, n)
        state.withLock { $0 = value }
        openblas_set_num_threads(Int32(value))
    }

    /// Applies the current budget to OpenBLAS; call once at start-up.
    public static func apply() {
        openblas_set_num_threads(Int32(count))
    }
}

/// Runs `body` over `0..<n` split into contiguous chunks, on at most
/// `ComputeThreads.count` threads. BLAS inside the body is single-threaded.
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard n > 0 else { return }
    let workers = min(ComputeThreads.count, max(1, n / max(1, minChunk)))
    if workers <= 1 {
        body(0..<n)
        return
    }
    let blasThreads = ComputeThreads.count
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(blasThreads)) }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = n * w / workers
            let hi = n * (w + 1) / workers
            if lo < hi { box.value(lo..<hi) }
        }
    }
}

/// Wraps a value that is safe to share by construction (disjoint writes).
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}

func sysconfCores() -> Int {
    Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

#if canImport(Glibc)
import Glibc
#endif
