import Foundation
import JSONRPC

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
