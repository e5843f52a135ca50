import Foundation
import JSONRPC

/// `initialize`: LSP's capabilities, with what this engine offers under
/// `capabilities.experimental.clipascene`.
public struct InitializeResult: WireType, CaseIterableKeys {
    public var capabilities: Capabilities
    public var serverInfo: ServerInfo

    public enum CodingKeys: String, CodingKey, CaseIterable { case capabilities, serverInfo }

    public init(engine: EngineCapabilities, version: String) {
        capabilities = Capabilities(experimental: .init(clipascene: engine))
        serverInfo = ServerInfo(name: "clipascene", version: version)
    }

    public struct Capabilities: Encodable, Sendable {
        public var experimental: Experimental
    }

    public struct Experimental: Encodable, Sendable {
        public var clipascene: EngineCapabilities
    }

    public struct ServerInfo: WireType, CaseIterableKeys {
        public var name, version: String
        public enum CodingKeys: String, CodingKey, CaseIterable { case name, version }
    }
}

/// What the engine offers: its methods and notifications, encoders (and whether their
/// weights are here), framings, limits and snapshot settings.
public struct EngineCapabilities: WireType, CaseIterableKeys {
    public var methods: [String]
    public var notifications: [String]
    public var encoders: [EncoderAvailability]
    public var subjectMaskWeightsPresent: Bool
    public var framings: [String]
    public var limits: Limits
    public var stateDirectory: String
    public var snapshotIntervalSeconds: Double

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case methods, notifications, encoders, subjectMaskWeightsPresent, framings, limits, stateDirectory, snapshotIntervalSeconds
    }

    public init(methods: [String], encoders: [EncoderAvailability], subjectMaskWeightsPresent: Bool, limits: Limits,
                stateDirectory: String, snapshotIntervalSeconds: Double) {
        self.methods = methods
        notifications = ["$/progress"]
        self.encoders = encoders
        self.subjectMaskWeightsPresent = subjectMaskWeightsPresent
        framings = ["headers", "lines"]
        self.limits = limits
        self.stateDirectory = stateDirectory
        self.snapshotIntervalSeconds = snapshotIntervalSeconds
    }
}

/// One encoder a client can ask for in `loadImage`.
public struct EncoderAvailability: WireType, CaseIterableKeys {
    public var name: String
    public var weightsPresent: Bool
    public var `default`: Bool

    public enum CodingKeys: String, CodingKey, CaseIterable { case name, weightsPresent, `default` }

    public init(name: String, weightsPresent: Bool, isDefault: Bool) {
        self.name = name
        self.weightsPresent = weightsPresent
        self.default = isDefault
    }
}

/// The limits a client can check its requests against before sending them.
public struct Limits: WireType, CaseIterableKeys {
    public var maxMessageBytes, maxPixels, maxDocuments: Int
    public var strokes, fidelity, simplicity, iterations: IntegerRange

    public enum CodingKeys: String, CodingKey, CaseIterable { case maxMessageBytes, maxPixels, maxDocuments, strokes, fidelity, simplicity, iterations }

    public init(maxMessageBytes: Int, maxPixels: Int, maxDocuments: Int, strokes: ClosedRange<Int>, fidelity: ClosedRange<Int>,
                simplicity: ClosedRange<Int>, iterations: ClosedRange<Int>) {
        (self.maxMessageBytes, self.maxPixels, self.maxDocuments) = (maxMessageBytes, maxPixels, maxDocuments)
        self.strokes = IntegerRange(strokes)
        self.fidelity = IntegerRange(fidelity)
        self.simplicity = IntegerRange(simplicity)
        self.iterations = IntegerRange(iterations)
    }
}

/// An inclusive integer range on the wire.
public struct IntegerRange: WireType, CaseIterableKeys {
    public var minimum, maximum: Int
    public enum CodingKeys: String, CodingKey, CaseIterable { case minimum, maximum }
    public init(_ r: ClosedRange<Int>) { (minimum, maximum) = (r.lowerBound, r.upperBound) }
}
