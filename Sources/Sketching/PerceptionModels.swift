import Foundation
import Models

/// The networks a sketch needs, loaded once from verified weight files and shared.
public struct PerceptionModels: Sendable {
    public let encoder: EfficientNetLite0
    public let masker: SubjectMasker

    /// An encoder by name, from its verified weight file. A missing file (CLIP is bring your
    /// own) gives an error naming the expected path, size, SHA-256 and where to get it.
    public static func loadEncoder(named name: String, checkpoints: String? = nil) throws -> any PerceptualEncoder {
        guard let kind = EncoderKind(rawValue: name) else {
            throw CheckpointError.unknownModel(name, EncoderKind.allCases.map(\.rawValue))
        }
        let path = try CheckpointStore.locate(checkpoints).verifiedPath(of: kind.checkpointName)
        switch kind {
        case .clipViTB32: return try CLIPVisual(path: path)
        case .efficientNetLite0: return try EfficientNetLite0(path: path)
        }
    }

    public init(encoder: EfficientNetLite0, masker: SubjectMasker) {
        self.encoder = encoder
        self.masker = masker
    }

    /// The default encoder and the subject masker from the checkpoint folder (see `CheckpointStore.locate`).
    public static func loadDefault(checkpoints: String? = nil) throws -> PerceptionModels {
        let store = try CheckpointStore.locate(checkpoints)
        return PerceptionModels(encoder: try EfficientNetLite0(path: try store.verifiedPath(of: EncoderKind.efficientNetLite0.checkpointName)),
                                masker: try SubjectMasker(path: try store.verifiedPath(of: "u2netp")))
    }
}
