import Foundation
import Models

/// The networks a sketch needs, loaded once from verified weight files and shared.
public struct PerceptionModels: Sendable {
    public let encoder: EfficientNetLite0
    public let masker: SubjectMasker

    /// The encoders the engine knows, by the name clients use.
    public static let encoderNames = ["efficientnet-lite0"]
    public static let defaultEncoder = "efficientnet-lite0"

    public init(encoder: EfficientNetLite0, masker: SubjectMasker) {
        self.encoder = encoder
        self.masker = masker
    }

    /// The default encoder and the subject masker from the checkpoint folder (see `CheckpointStore.locate`).
    public static func loadDefault(checkpoints: String? = nil) throws -> PerceptionModels {
        let store = try CheckpointStore.locate(checkpoints)
        return PerceptionModels(encoder: try EfficientNetLite0(path: try store.verifiedPath(of: "efficientnet-lite0")),
                                masker: try SubjectMasker(path: try store.verifiedPath(of: "u2netp")))
    }
}
