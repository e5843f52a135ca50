import Foundation
import Imaging
import Models
import Sketching

/// Decodes a photo for a command, turning image errors into a one-line message for the user.
func loadPhoto(_ path: String) throws -> RGBImage {
    do { return try ImageFile.decode(path: path) } catch let e as ImageError {
        throw UserFacingError(description: e.description)
    }
}

/// The default encoder and subject masker, from verified weight files.
func loadModels() throws -> (encoder: EfficientNetLite0, masker: SubjectMasker) {
    let models = try PerceptionModels.loadDefault()
    return (models.encoder, models.masker)
}
