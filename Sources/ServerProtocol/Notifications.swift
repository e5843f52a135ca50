import Foundation
import JSONRPC

// What the server sends unasked, as `protocol/clipascene.openrpc.json` describes it.

/// The `value` of a `$/progress` notification: LSP's work-done progress, with the step and
/// loss of the latest step in reports.
public enum ProgressValue: Encodable, Sendable, Equatable {
    case begin(title: String, message: String)
    case report(message: String, percentage: Int, step: Int?, loss: Double?)
    case end(message: String)

    enum CodingKeys: String, CodingKey { case kind, title, cancellable, message, percentage, step, loss }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .begin(let title, let message):
            try c.encode("begin", forKey: .kind)
            try c.encode(title, forKey: .title)
            try c.encode(true, forKey: .cancellable)
            try c.encode(message, forKey: .message)
            try c.encode(0, forKey: .percentage)
        case .report(let message, let percentage, let step, let loss):
            try c.encode("report", forKey: .kind)
            try c.encode(message, forKey: .message)
            try c.encode(min(100, max(0, percentage)), forKey: .percentage)
            if let step {
                try c.encode(step, forKey: .step)
                if let loss { try c.encode(loss, forKey: .loss) } else { try c.encodeNil(forKey: .loss) }
            }
        case .end(let message):
            try c.encode("end", forKey: .kind)
            try c.encode(message, forKey: .message)
        }
    }

    /// The names each kind can write, for the agreement test.
    public static let wireNames = ["begin": ["kind", "title", "cancellable", "message", "percentage"],
                                   "report": ["kind", "message", "percentage", "step", "loss"],
                                   "end": ["kind", "message"]]
}

/// `$/progress`.
public struct ProgressParams: WireType, CaseIterableKeys {
    public var token: JSON
    public var value: ProgressValue

    public enum CodingKeys: String, CodingKey, CaseIterable { case token, value }

    public init(token: JSON, value: ProgressValue) { (self.token, self.value) = (token, value) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(TokenValue(token), forKey: .token)
        try c.encode(value, forKey: .value)
    }

    /// A progress token is a string or an integer.
    struct TokenValue: Encodable {
        let token: JSON
        init(_ token: JSON) { self.token = token }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch token {
            case .int(let i): try c.encode(i)
            case .string(let s): try c.encode(s)
            default: try c.encode(token.text)
            }
        }
    }
}

/// `window/showMessage`: LSP's message types, 1 error … 4 log.
public struct ShowMessageParams: WireType, CaseIterableKeys {
    public var type: Int
    public var message: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case type, message }

    public init(type: Int, message: String) { (self.type, self.message) = (type, message) }
    public static let error = 1, info = 3
}
