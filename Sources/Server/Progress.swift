import Foundation
import JSONRPC
import Imaging
import Models
import ServerProtocol
import Sketching
import Vector

/// `$/progress` for one request: on the client's `workDoneToken`, else on a token the server
/// created (when the client supports that), else silent.
final class Progress {
    let token: JSON?
    let server: any DocumentServices

    init(_ r: Request, server: any DocumentServices) throws {
        self.server = server
        switch r.params.object["workDoneToken"] {
        case nil, .null?: token = server.createProgressToken()
        case .string(let s)?: token = .string(s)
        case .int(let i)?: token = .int(i)
        case let other?: throw RPCError.invalidParams("workDoneToken must be a string or an integer, got \(other.typeName)")
        }
        if let token { server.register(progress: token, for: r.cancel) }
    }

    deinit { if let token { server.unregister(progress: token) } }

    private func send(_ value: ProgressValue) {
        guard let token, let params = try? ProgressParams(token: token, value: value).json() else { return }
        server.notify("$/progress", params)
    }

    func begin(title: String, message: String) { send(.begin(title: title, message: message)) }

    /// A report; `step` and its `loss` for the optimisation's reports.
    func report(_ message: String, percentage: Int, step: Int? = nil, loss: Float? = nil) {
        send(.report(message: message, percentage: percentage, step: step, loss: wireNumber(loss)))
    }

    func end(_ message: String) { send(.end(message: message)) }
}
