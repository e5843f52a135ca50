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
    static func invalidRequest(_ m: String) -> RPCError { RPCError(code: invalidRequestCode, message: m) }
    public static func invalidParams(_ m: String) -> RPCError { RPCError(code: invalidParamsCode, message: m) }
    static func failed(_ m: String) -> RPCError { RPCError(code: requestFailedCode, message: m) }
    static func cancelled(_ m: String, data: JSON? = nil) -> RPCError {
        RPCError(code: requestCancelledCode, message: m, data: data)
    }
    static func serverCancelled(_ m: String, data: JSON? = nil) -> RPCError {
        RPCError(code: serverCancelledCode, message: m, data: data)
    }

    static func tooLarge(limit: Int, size: Int?) -> RPCError {
        let what = size.map { "a message of \($0) bytes" } ?? "a message"
        return RPCError(code: invalidRequestCode,
                        message: "\(what) exceeds the limit of \(limit) bytes; send images by path, or start the server with a larger --max-message-bytes")
    }
}

/// Reads typed parameters out of a request's `params`, with errors that name the field, the
/// expected type or range, and what was sent.
struct Params {
    let object: [String: JSON]
    let prefix: String

    init(_ params: JSON?, prefix: String = "") throws {
        switch params {
        // An empty array is "no parameters" too: Lua clients (Neovim) encode an empty table as [].
        case nil, .null?, .array([])?: object = [:]
        case .object(let o)?: object = o
        case let other?: throw RPCError.invalidParams("params must be an object, got \(other.typeName)")
        }
        self.prefix = prefix
    }

    func name(_ key: String) -> String { prefix + key }

    func has(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    func string(_ key: String) throws -> String {
        guard let v = object[key], v != .null else { throw RPCError.invalidParams("\(name(key)) is required (a string)") }
        guard case .string(let s) = v else { throw RPCError.invalidParams("\(name(key)) must be a string, got \(v.typeName)") }
        return s
    }

    func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

    func int(_ key: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let v = object[key], v != .null else {
            if let fallback { return fallback }
            throw RPCError.invalidParams("\(name(key)) is required (an integer in \(range.lowerBound)…\(range.upperBound))")
        }
        var value: Int? = nil
        if case .int(let i) = v { value = i }
        if case .double(let d) = v, d == d.rounded(), abs(d) < 1e15 { value = Int(d) }
        guard let i = value, range.contains(i) else {
            throw RPCError.invalidParams("\(name(key)) must be an integer in \(range.lowerBound)…\(range.upperBound), got \(v.text)")
        }
        return i
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        has(key) ? try int(key, in: range) : nil
    }

    func double(_ key: String) throws -> Double? {
        guard let v = object[key], v != .null else { return nil }
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .largeInteger(let text): return Double(text) ?? .infinity
        default: throw RPCError.invalidParams("\(name(key)) must be a number, got \(v.typeName)")
        }
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = object[key], v != .null else { return fallback }
        guard case .bool(let b) = v else { throw RPCError.invalidParams("\(name(key)) must be true or false, got \(v.typeName)") }
        return b
    }

    func intArray(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard let v = object[key], v != .null else { return fallback }
        guard case .array(let a) = v else { throw RPCError.invalidParams("\(name(key)) must be an array of integers, got \(v.typeName)") }
        return try a.map { e in
            guard case .int(let i) = e else { throw RPCError.invalidParams("\(name(key)) must be an array of integers, got \(v.text)") }
            return i
        }
    }

    func nested(_ key: String) throws -> Params {
        guard let v = object[key], v != .null else { return try Params(nil, prefix: name(key) + ".") }
        guard case .object = v else { throw RPCError.invalidParams("\(name(key)) must be an object, got \(v.typeName)") }
        return try Params(v, prefix: name(key) + ".")
    }

    /// Rejects keys the method does not know (a misspelt option should not pass silently).
    /// LSP's `workDoneToken` and `partialResultToken` are always accepted.
    func only(_ keys: Set<String>) throws {
        let keys = keys.union(["workDoneToken", "partialResultToken"])
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw RPCError.invalidParams("unknown parameter \(name(unknown)); expected one of: \(keys.sorted().map(name).joined(separator: ", "))")
        }
    }
}
