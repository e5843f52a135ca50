import Dispatch
import JSONRPC

/// The requests read and not yet answered. `exit` and the end of input wait on it, so a
/// script piped into the server gets a reply to every request it sent before `shutdown`
/// (a result, or an error saying why), and the server never exits 0 having dropped one.
final class AnswerLedger: Sendable {
    /// Owed answers by the request's serialised id (a client may reuse an id).
    private let owed = Locked<[String: Int]>([:])
    private let settled = DispatchGroup()

    /// A request was read: it is owed an answer.
    func expect(_ id: JSON) {
        owed.withLock { $0[id.text, default: 0] += 1 }
        settled.enter()
    }

    /// An answer was written for `id`; answers to messages that were never requests (a parse
    /// error, an invalid request) are not in the ledger and change nothing.
    func answered(_ id: JSON) {
        let wasOwed = owed.withLock { owed -> Bool in
            guard let n = owed[id.text] else { return false }
            owed[id.text] = n > 1 ? n - 1 : nil
            return true
        }
        if wasOwed { settled.leave() }
    }

    /// How many answers are still owed.
    var count: Int { owed.withLock { $0.values.reduce(0, +) } }

    /// Blocks until every answer owed is written, or `seconds` pass; true when all were.
    func waitUntilSettled(seconds: Double) -> Bool {
        settled.wait(timeout: .now() + seconds) == .success
    }
}
