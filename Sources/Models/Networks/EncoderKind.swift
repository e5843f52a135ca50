import Foundation

/// The encoders the engine knows, by the names clients use.
public enum EncoderKind: String, CaseIterable, Sendable, Codable {
    case efficientNetLite0 = "efficientnet-lite0"
    case clipViTB32 = "clip-vit-b32"

    public static let `default` = EncoderKind.efficientNetLite0

    /// The blocks of the full-size network.
    public var blockCount: Int {
        switch self {
        case .efficientNetLite0: EfficientNetLite0.blockCount
        case .clipViTB32: CLIPVisual.officialLayers
        }
    }

    /// The checkpoint manifest's entry holding its weights.
    public var checkpointName: String {
        switch self {
        case .efficientNetLite0: "efficientnet-lite0"
        case .clipViTB32: "clip"
        }
    }

    /// The names, for messages: "efficientnet-lite0, clip-vit-b32".
    public static var namesList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
