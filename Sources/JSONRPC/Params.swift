import Foundation

/// Reads typed parameters out of a request's `params`, with errors that name the field, the
/// expected type or range, and what was sent.
public struct Params {
    public let object: [String: JSON]
    public let prefix: String

    public init(_ params: JSON?, prefix: String = "") throws {
        switch params {
        // An empty array is "no parameters" too: Lua clients (Neovim) encode an empty table as [].
        case nil, .null?, .array([])?: object = [:]
        case .object(let o)?: object = o
        case let other?: throw RPCError.invalidParams("params must be an object, got \(other.typeName)")
        }
        self.prefix = prefix
    }

    public func name(_ key: String) -> String { prefix + key }

    public func has(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    public func string(_ key: String) throws -> String {
        guard let v = object[key], v != .null else { throw RPCError.invalidParams("\(name(key)) is required (a string)") }
        guard case .string(let s) = v else { throw RPCError.invalidParams("\(name(key)) must be a string, got \(v.typeName)") }
        return s
    }

    public func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

    public func int(_ key: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let v = object[key], v != .null else {
            if let fallback { return fallback }
            throw RPCError.invalidParams("\(name(key)) is required (an integer in \(range.lowerBound)…\(range.upperBound))")
        }
        var value: Int? = nil
        if case .int(let i) = v { value = i } else if let d = v.numberValue, d == d.rounded(), abs(d) < 1e15 { value = Int(d) }
        guard let i = value, range.contains(i) else {
            throw RPCError.invalidParams("\(name(key)) must be an integer in \(range.lowerBound)…\(range.upperBound), got \(v.text)")
        }
        return i
    }

    public func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        has(key) ? try int(key, in: range) : nil
    }

    /// Any integer (a whole number written as a fraction, 3.0, counts), or nil when absent;
    /// for values whose range the caller checks.
    public func optionalInteger(_ key: String) throws -> Int? {
        guard let v = object[key], v != .null else { return nil }
        if case .int(let i) = v { return i }
        if let d = v.numberValue, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        throw RPCError.invalidParams("\(name(key)) must be an integer, got \(v.text)")
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = object[key], v != .null else { return nil }
        guard let d = v.numberValue else { throw RPCError.invalidParams("\(name(key)) must be a number, got \(v.typeName)") }
        return d
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = object[key], v != .null else { return fallback }
        guard case .bool(let b) = v else { throw RPCError.invalidParams("\(name(key)) must be true or false, got \(v.typeName)") }
        return b
    }

    public func intArray(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard let v = object[key], v != .null else { return fallback }
        guard case .array(let a) = v else { throw RPCError.invalidParams("\(name(key)) must be an array of integers, got \(v.typeName)") }
        return try a.map { e in
            guard case .int(let i) = e else { throw RPCError.invalidParams("\(name(key)) must be an array of integers, got \(v.text)") }
            return i
        }
    }

    public func nested(_ key: String) throws -> Params {
        guard let v = object[key], v != .null else { return try Params(nil, prefix: name(key) + ".") }
        guard case .object = v else { throw RPCError.invalidParams("\(name(key)) must be an object, got \(v.typeName)") }
        return try Params(v, prefix: name(key) + ".")
    }

    /// Rejects keys the method does not know (a misspelt option should not pass silently).
    /// LSP's `workDoneToken` and `partialResultToken` are always accepted.
    public func only(_ keys: Set<String>) throws {
        let keys = keys.union(["workDoneToken", "partialResultToken"])
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw RPCError.invalidParams("unknown parameter \(name(unknown)); expected one of: \(keys.sorted().map(name).joined(separator: ", "))")
        }
    }
}
