import Foundation
import XCTest
import Models

/// Weight files that are a few bytes of pickle but would ask for gigabytes: each must be refused
/// with a message, quickly, and a checkpoint that only looks similar must still load.
final class PickleBombTests: XCTestCase {
    /// Opcodes of the pickle protocol, written out so the tests read like the files they make.
    private struct Pickle {
        var bytes: [UInt8] = []
        mutating func op(_ c: Character) { bytes.append(UInt8(ascii: c.unicodeScalars.first!)) }
        mutating func raw(_ b: [UInt8]) { bytes += b }
        mutating func int(_ v: Int) {
            op("J")
            bytes += withUnsafeBytes(of: Int32(v).littleEndian, Array.init)
        }
        mutating func string(_ s: String) {
            op("X")
            let utf8 = Array(s.utf8)
            bytes += withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init)
            bytes += utf8
        }
        mutating func global(_ module: String, _ name: String) {
            op("c")
            bytes += Array("\(module)\n\(name)\n".utf8)
        }
        /// `torch._utils._rebuild_tensor_v2` of float storage `key`.
        mutating func tensor(storage key: String, offset: Int, shape: [Int], strides: [Int]) {
            global("torch._utils", "_rebuild_tensor_v2")
            op("(")
            op("("); string("storage"); global("torch", "FloatStorage"); string(key); string("cpu"); int(1); op("t")
            op("Q")
            int(offset)
            op("("); shape.forEach { int($0) }; op("t")
            op("("); strides.forEach { int($0) }; op("t")
            op("t")
            op("R")
        }
    }

    /// The legacy `torch.save` stream: magic, protocol, sys info, `main`, storage keys, storages.
    private func legacyFile(main: (inout Pickle) -> Void, storages: [(key: String, floats: Int)]) -> [UInt8] {
        var p = Pickle()
        p.raw([0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]); p.op(".")
        p.int(1001); p.op(".")
        p.op("N"); p.op(".")
        main(&p); p.op(".")
        p.op("("); storages.forEach { p.string($0.key) }; p.op("t"); p.op(".")
        for s in storages {
            p.raw(withUnsafeBytes(of: UInt64(s.floats).littleEndian, Array.init))
            p.raw((0..<s.floats).flatMap { withUnsafeBytes(of: Float($0 % 97).bitPattern.littleEndian, Array.init) })
        }
        return p.bytes
    }

    private func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try TorchCheckpoint(bytes: bytes, name: "bomb.pt")
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// BUILD merges a dict into itself: two bytes double it. Twenty-four doublings are 16 M
    /// entries, four times the budget.
    func testADictDoubledIntoItselfIsRefused() {
        let file = legacyFile(main: { p in
            p.op("}"); p.int(1); p.int(2); p.op("s")
            for _ in 0..<24 { p.op("2"); p.op("b") }
        }, storages: [])
        XCTAssertLessThan(file.count, 200)
        let message = refusal(file)
        XCTAssertNotNil(message, "a 2²⁴-entry dict from \(file.count) bytes was read")
        XCTAssertTrue(message?.contains("not a checkpoint") ?? false, message ?? "")
    }

    /// `OrderedDict(pairs)` copies a memoised tuple of pairs each time a file calls it: seven
    /// bytes for 2,048 entries, over and over (quadratic in the file's size).
    func testAMemoisedTupleOfPairsRebuiltOverAndOverIsRefused() {
        let file = legacyFile(main: { p in
            p.int(1); p.int(2); p.raw([0x86, 0x71, 0x01])                       // (1, 2), memo 1
            p.op("("); for _ in 0..<2048 { p.raw([0x68, 0x01]) }; p.op("t")     // 2,048 of them
            p.raw([0x85, 0x71, 0x02])                                           // (pairs,), memo 2
            p.global("collections", "OrderedDict"); p.raw([0x71, 0x03]); p.op("0")
            for _ in 0..<4096 { p.raw([0x68, 0x03, 0x68, 0x02]); p.op("R"); p.op("0") }
            p.op("N")
        }, storages: [])
        XCTAssertLessThan(file.count, 40_000)
        let message = refusal(file)
        XCTAssertNotNil(message, "8 M entries from \(file.count) bytes were read")
        XCTAssertTrue(message?.contains("not a checkpoint") ?? false, message ?? "")
    }

    /// Stride 0 reads one stored number 2¹⁷ times: four bytes of storage, half a megabyte of tensor.
    func testAViewLargerThanItsStorageIsRefused() {
        let file = legacyFile(main: { p in
            p.op("}"); p.op("("); p.string("w"); p.tensor(storage: "0", offset: 0, shape: [1 << 17], strides: [0]); p.op("u")
        }, storages: [("0", 1)])
        let message = refusal(file)
        XCTAssertNotNil(message, "a 2¹⁷-number tensor was read from one stored number")
        XCTAssertTrue(message?.contains("its storage only 1") ?? false, message ?? "")
    }

    /// Names on the same numbers: a tied weight (two names) loads; three full views of one
    /// 4 MB storage are more than twice what is stored.
    func testManyNamesOnOneStorageAreRefusedButATiedWeightLoads() throws {
        let n = 1 << 20
        func file(names: Int) -> [UInt8] {
            legacyFile(main: { p in
                p.op("}"); p.op("(")
                for i in 0..<names { p.string("w\(i)"); p.tensor(storage: "0", offset: 0, shape: [n], strides: [1]) }
                p.op("u")
            }, storages: [("0", n)])
        }
        let tied = try TorchCheckpoint(bytes: file(names: 2), name: "tied.pt")
        XCTAssertEqual(tied.tensors["w1"]?.shape, [n])
        XCTAssertEqual(tied.tensors["w1"]?.data[96], 96)
        let message = refusal(file(names: 3))
        XCTAssertNotNil(message, "three 4 MB tensors were read from one 4 MB storage")
        XCTAssertTrue(message?.contains("more than twice") ?? false, message ?? "")
    }
}
