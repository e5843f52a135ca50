import Foundation

/// A JSON-RPC error: the standard codes, LSP's, and a message that says what to fix.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public var data: JSON?

    public init(code: Int, message: String, data: JSON? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "\(code): \(message)" }

    public var json: JSON {
        var o: [String: JSON] = ["code": .int(code), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    public static let serverNotInitializedCode = -32002
    public static let requestCancelledCode = -32800
    public static let serverCancelledCode = -32802
    public static let requestFailedCode = -32803

    public static func parse(_ m: String) -> RPCError { RPCError(code: parseErrorCode, message: m) }
    public static func invalidRequest(_ m: String) -> RPCError { RPCError(code: invalidRequestCode, message: m) }
    public static func invalidParams(_ m: String) -> RPCError { RPCError(code: invalidParamsCode, message: m) }
    public static func failed(_ m: String) -> RPCError { RPCError(code: requestFailedCode, message: m) }
    public static func cancelled(_ m: String, data: JSON? = nil) -> RPCError {
        RPCError(code: requestCancelledCode, message: m, data: data)
    }
    public static func serverCancelled(_ m: String, data: JSON? = nil) -> RPCError {
        RPCError(code: serverCancelledCode, message: m, data: data)
    }

    public static func tooLarge(limit: Int, size: Int?) -> RPCError {
        let what = size.map { "a message of \($0) bytes" } ?? "a message"
        return RPCError(code: invalidRequestCode,
                        message: "\(what) exceeds the limit of \(limit) bytes; send images by path, or start the server with a larger --max-message-bytes")
    }
}
