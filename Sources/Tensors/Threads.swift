import CBLAS
import Dispatch
import Synchronization

/// The one place that decides how many threads compute uses.
///
/// Two pools could fight over the cores: OpenBLAS's own threads and our `parallelFor`
/// loops. Measured here, letting both exist made idle OpenBLAS workers spin and yield
/// while our loops ran, costing a third of a training step. So there is one pool:
/// OpenBLAS always runs single-threaded, and `sgemm` splits large products across
/// our own workers.
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

    /// Sets the thread budget (clamped to at least 1).
    public static func set(_ n: Int) {
        let value = max(1, n)
        state.withLock { $0 = value }
        apply()
    }

    /// Splitting products across our own workers (OpenBLAS single-threaded) instead of
    /// letting OpenBLAS thread them. Off (`CLIPASCENE_SPLIT_GEMM=0`, for measurements only):
    /// concurrent OpenBLAS calls from two threads serialise on a lock inside the library, and
    /// OpenBLAS cuts products by its thread count, so a drawing then depends on it.
    static let splitProducts = getenvString("CLIPASCENE_SPLIT_GEMM") != "0"

    /// Gives OpenBLAS the thread budget (or one thread when we split products ourselves).
    public static func apply() {
        openblas_set_num_threads(splitProducts ? 1 : Int32(count))
    }

    /// Evaluated once, on first use of `sgemm`.
    static let blasConfigured: Bool = {
        apply()
        keepLargeAllocations()
        return true
    }()

    /// glibc hands every block over 128 KiB straight back to the kernel, so each training
    /// step re-faults and re-zeroes its activations (measured: a third of a step in system
    /// time). Keeping freed memory in the heap makes the next step reuse it.
    public static func keepLargeAllocations() {
        allocationPolicyApplied.withLock { done in
            guard !done else { return }
            done = true
            applyAllocationPolicy()
        }
    }

    private static let allocationPolicyApplied = Mutex<Bool>(false)

    private static func applyAllocationPolicy() {
        #if canImport(Glibc)
        // mallopt is not in Swift's Glibc module; look it up. M_TRIM_THRESHOLD = −1, M_MMAP_THRESHOLD = −3.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-3, 1 << 30)
        _ = mallopt(-1, Int32.max)
        // One arena for every thread (M_ARENA_MAX = −8): with a heap that is never trimmed, a
        // worker's own arena keeps what it freed out of reach of the others (measured: peak
        // memory of a sketch 334 → 258 MB; the few large allocations barely contend).
        _ = mallopt(-8, 1)
        #endif
    }
}

/// True on threads running a `parallelFor` body, so nested loops run inline.
private let insideParallelRegion = ThreadFlag()

final class ThreadFlag: @unchecked Sendable {
    private var key = pthread_key_t()
    init() { pthread_key_create(&key, nil) }
    var isSet: Bool { pthread_getspecific(key) != nil }
    func set(_ on: Bool) { pthread_setspecific(key, on ? UnsafeRawPointer(bitPattern: 1) : nil) }
}

/// Runs `body` over `0..<n` split into contiguous chunks, on at most
/// `ComputeThreads.count` threads. Nested calls run inline on the calling worker.
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard n > 0 else { return }
    let workers = min(ComputeThreads.count, max(1, n / max(1, minChunk)))
    if workers <= 1 || insideParallelRegion.isSet {
        body(0..<n)
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = n * w / workers
            let hi = n * (w + 1) / workers
            if lo < hi {
                let nested = insideParallelRegion.isSet
                insideParallelRegion.set(true)
                box.value(lo..<hi)
                insideParallelRegion.set(nested)
            }
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

/// `body(i)` for every i in 0..<n, in parallel as `parallelFor` runs it, results in order.
public func parallelMap<T>(_ n: Int, _ body: (Int) -> T) -> [T] {
    guard n > 0 else { return [] }
    var slots = [T?](repeating: nil, count: n)
    slots.withUnsafeMutableBufferPointer { buffer in
        let base = UncheckedSendable(buffer.baseAddress!)
        parallelFor(n) { range in for i in range { base.value[i] = body(i) } }
    }
    return slots.map { $0! }
}

/// Splits `count` items so every worker gets the same number of whole items (`perWorker`,
/// run one per worker) and the few left over (`shared`) are run afterwards with each
/// operation spread over all workers: five images on two workers become 2 + 2, then 1
/// shared, instead of 3 + 2.
public func balancedRuns(_ count: Int) -> (perWorker: [Range<Int>], shared: Range<Int>?) {
    let workers = ComputeThreads.count
    guard workers > 1, count > 0 else { return ([0..<count], nil) }
    let each = count / workers, full = each * workers
    let runs = each == 0 ? [] : (0..<workers).map { w in (w * each)..<((w + 1) * each) }
    return (runs, full < count ? full..<count : nil)
}

