import Foundation
import Models

/// The networks a sketch needs, loaded once from verified weight files and shared.
public struct PerceptionModels: Sendable {
    public let encoder: EfficientNetLite0
    public let masker: SubjectMasker

    /// The encoders the engine knows, by the name clients use.
    public static let encoderNames = ["efficientnet-lite0", "clip-vit-b32"]
    public static let defaultEncoder = "efficientnet-lite0"

    /// The checkpoint manifest entry holding an encoder's weights.
    public static func checkpointName(ofEncoder name: String) -> String? {
        ["efficientnet-lite0": "efficientnet-lite0", "clip-vit-b32": "clip"][name]
    }

    /// An encoder by name, from its verified weight file. A missing file (CLIP is bring your
    /// own) gives an error naming the expected path, size, SHA-256 and where to get it.
    public static func loadEncoder(named name: String, checkpoints: String? = nil) throws -> any PerceptualEncoder {
        guard let entry = checkpointName(ofEncoder: name) else {
            throw CheckpointError.unknownModel(name, encoderNames)
        }
        let path = try CheckpointStore.locate(checkpoints).verifiedPath(of: entry)
        return name == "clip-vit-b32" ? try CLIPVisual(path: path) : try EfficientNetLite0(path: path)
    }

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
