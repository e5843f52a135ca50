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

/// Set by `$/cancelRequest` or `window/workDoneProgress/cancel` (the client asked), or by the
/// server itself (closing the document, shutdown, a superseding setAbstraction); read between
/// steps. Who cancelled decides the error code: LSP clients drop -32800 RequestCancelled as
/// "you asked for it", so a cancel they did not ask for must be -32802 ServerCancelled.
final class CancelFlag: @unchecked Sendable {
    enum Reason: Sendable, Equatable {
        case client
        case server(String)
    }

    private let lock = NSLock()
    private var why: Reason?

    /// The first reason wins: a later cancel of the same request changes nothing.
    func cancel(_ reason: Reason = .client) {
        lock.lock()
        if why == nil { why = reason }
        lock.unlock()
    }

    var isCancelled: Bool { reason != nil }

    var reason: Reason? {
        lock.lock()
        defer { lock.unlock() }
        return why
    }

    /// The error a request stopped by this flag answers with, `data` holding what it reached.
    func error(_ message: String, data: JSON? = nil) -> RPCError {
        switch reason {
        case .server(let why)?: return RPCError.serverCancelled("\(message) (\(why))", data: data)
        default: return RPCError.cancelled(message, data: data)
        }
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }
}
