import Foundation
import JSONRPC

/// One heavy job on the cores at a time, first come first served. Long jobs call `yield()`
/// between optimisation steps so another document's steps can interleave.
final class ComputeGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextTicket = 0
    private var serving = 0

    func acquire() {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
    }

    func release() {
        condition.lock()
        serving += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Takes the cores only when no job holds them or waits for them (work that may wait, such
    /// as speculation); true when taken (release them as after `acquire`).
    func acquireIfFree() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard serving == nextTicket else { return false }
        nextTicket += 1
        return true
    }

    /// Lets any job already waiting go first, then takes the cores back.
    func yield() {
        condition.lock()
        let waiting = nextTicket - serving - 1
        condition.unlock()
        guard waiting > 0 else { return }
        release()
        acquire()
    }

    func run<T>(_ body: () throws -> T) rethrows -> T {
        acquire()
        defer { release() }
        return try body()
    }
}
