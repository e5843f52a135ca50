import XCTest
import Foundation
import Tensors
import TestSupport

/// Every reduction and product we compute gives the same bits for the same values wherever
/// they sit in memory and however many threads split the work: a seed's drawing depends on
/// nothing else (docs/determinism.md). `KernelSetMatrixTests` runs this class again under
/// each OpenBLAS kernel set the CPU can execute.
final class AddressIndependenceTests: XCTestCase {
    /// `values` copied `offset` floats into a 64-byte-aligned buffer, handed to `body`.
    func atOffset<R>(_ values: [Float], _ offset: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: (values.count + 16) * 4, alignment: 64)
        defer { raw.deallocate() }
        let base = raw.bindMemory(to: Float.self, capacity: values.count + 16)
        let slice = UnsafeMutableBufferPointer(start: base + offset, count: values.count)
        _ = slice.initialize(from: values)
        return body(slice)
    }

    func testAbsoluteSumGivesTheSameBitsAtEveryOffset() {
        var rng = SeededRandom(7)
        for n in [0, 1, 5, 8, 9, 31, 32, 33, 47, 100, 1000, 4099, 65_543] {
            let values = rng.values(n, -3, 3)
            let reference = values.reduce(0.0) { $0 + abs(Double($1)) }
            let first = atOffset(values, 0) { absoluteSum(UnsafeBufferPointer($0)) }
            XCTAssertEqual(Double(first), reference, accuracy: 1e-5 * max(1, reference), "n \(n)")
            XCTAssertEqual(absoluteSum(values).bitPattern, first.bitPattern, "n \(n): the array's own storage")
            for offset in 1..<16 {
                let sum = atOffset(values, offset) { absoluteSum(UnsafeBufferPointer($0)) }
                XCTAssertEqual(sum.bitPattern, first.bitPattern, "n \(n), offset \(offset) floats: \(sum) ≠ \(first)")
            }
        }
        XCTAssertEqual(absoluteSum([-0.0, -1, 2, -.leastNonzeroMagnitude]).bitPattern, Float(3).bitPattern)
    }

    /// The shapes the engine's products take (MLP layers, 1×1 convolutions, attention, the
    /// encoder's thin products) and odd ones, each operand shifted by its own offset.
    func testProductsGiveTheSameBitsAtEveryOffset() {
        var rng = SeededRandom(11)
        let shapes = [(7, 9, 13), (3, 3, 200), (64, 100, 33), (17, 1000, 64), (300, 49, 576), (128, 128, 128), (50, 768, 31)]
        for (m, n, k) in shapes {
            let a = rng.centred(m * k), b = rng.centred(k * n)
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                func product(_ offset: Int) -> [UInt32] {
                    atOffset(a, offset) { ab in atOffset(b, 15 - offset) { bb in
                        atOffset([Float](repeating: 0, count: m * n), (offset * 7) % 16) { cb in
                            sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: ab.baseAddress!, lda: ta ? m : k,
                                  b: bb.baseAddress!, ldb: tb ? k : n, c: cb.baseAddress!, ldc: n)
                            return cb.map(\.bitPattern)
                        }
                    } }
                }
                let first = product(0)
                for offset in 1..<16 {
                    XCTAssertEqual(product(offset), first, "\(m)×\(n)×\(k) transA \(ta) transB \(tb), offset \(offset)")
                }
            }
        }
        for n in [1, 7, 8, 33, 1000] {
            let x = rng.centred(n), y = rng.centred(n)
            func axpied(_ offset: Int) -> [UInt32] {
                atOffset(x, offset) { xb in
                    var out = atOffset(y, 15 - offset) { Array($0) }
                    axpy(0.37, Array(xb), into: &out)
                    return out.map(\.bitPattern)
                }
            }
            let first = axpied(0)
            for offset in 1..<16 { XCTAssertEqual(axpied(offset), first, "axpy of \(n), offset \(offset)") }
        }
    }

    /// Large products are cut into blocks the compute threads share; the cut follows the shape
    /// alone, so the thread count never changes a value (OpenBLAS's Haswell kernels round a
    /// call's last columns differently, so a cut that followed the threads would).
    func testProductsAreTheSameOnAnyNumberOfThreads() {
        var rng = SeededRandom(13)
        let before = ComputeThreads.count
        defer { ComputeThreads.set(before) }
        for (m, n, k) in [(300, 49, 576), (64, 4096, 32), (2048, 24, 96), (40, 40, 40)] {
            let a = rng.centred(m * k), b = rng.centred(k * n)
            func product(threads: Int) -> [UInt32] {
                ComputeThreads.set(threads)
                return matmul(Tensor(shape: [m, k], data: a), Tensor(shape: [k, n], data: b)).data.map(\.bitPattern)
            }
            let one = product(threads: 1)
            for threads in [2, 3, 4] { XCTAssertEqual(product(threads: threads), one, "\(m)×\(n)×\(k) on \(threads) threads") }
        }
    }

    /// Under `OPENBLAS_CORETYPE`, the library really runs the kernel set named (it falls back
    /// to its own choice, silently, for a set the CPU cannot execute).
    func testTheKernelSetAskedForIsTheOneRunning() throws {
        guard let asked = ProcessInfo.processInfo.environment[BLASKernels.variable] else {
            throw XCTSkip("OPENBLAS_CORETYPE is not set: the library's own choice, \(BLASKernels.current)")
        }
        XCTAssertEqual(BLASKernels.current.lowercased(), asked.lowercased())
    }
}

/// `AddressIndependenceTests` once more in a child process per kernel set (OpenBLAS picks its
/// set when it loads, so another set means another process).
final class KernelSetMatrixTests: XCTestCase {
    func testEveryKernelSetGivesTheSameBitsAtEveryOffset() throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        guard me.hasSuffix(".xctest") else { throw XCTSkip("not run by the xctest runner (\(me))") }
        for set in runnableKernelSets() {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: me)
            p.arguments = ["TensorsTests.AddressIndependenceTests"]
            var env = ProcessInfo.processInfo.environment
            env[BLASKernels.variable] = set
            p.environment = env
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-set-\(set)-\(getpid()).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            p.waitUntilExit()
            try handle.close()
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: log)
            XCTAssertEqual(p.terminationStatus, 0, "under OPENBLAS_CORETYPE=\(set):\n\(output.suffix(3000))")
            XCTAssertTrue(output.contains("Executed 4 tests"), "under \(set), the child ran: \(output.suffix(800))")
        }
    }
}
