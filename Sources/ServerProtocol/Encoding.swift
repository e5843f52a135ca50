import Foundation
import JSONRPC

/// An optional the wire writes as `null` rather than leaving the key out (the schema
/// requires the key).
@propertyWrapper
public struct Nullable<Value: Encodable & Sendable & Equatable>: Encodable, Sendable, Equatable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

/// A number as the wire shows it: a Float through its shortest decimal (so 1e-4 reads 0.0001,
/// not 9.999999747378752e-05); nil when not finite (written as null).
public func wireNumber(_ v: Float?) -> Double? {
    guard let v, v.isFinite else { return nil }
    return Double(v.description) ?? Double(v)
}

extension Encodable {
    /// The value as a JSON-RPC message part.
    public func json() throws -> JSON {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try JSON.parse(Array(try encoder.encode(self)))
    }
}

/// The coding keys of a protocol type, which the agreement test compares with the OpenRPC
/// document's properties.
public protocol WireType: Encodable, Sendable {
    /// Every property name the type can write.
    static var wireNames: [String] { get }
}

extension WireType where Self: CaseIterableKeys {
    public static var wireNames: [String] { CodingKeys.allCases.map(\.stringValue) }
}

/// A type whose coding keys can be listed.
public protocol CaseIterableKeys {
    associatedtype CodingKeys: CodingKey & CaseIterable
}
