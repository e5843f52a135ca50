import Foundation
import Imaging
import Models
import Sketching
import Vector

/// Decodes a photo for a command, turning image errors into a one-line message for the user.
func loadPhoto(_ path: String) throws -> RGBImage {
    do { return try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide) } catch let e as ImageError {
        throw UserFacingError(description: e.description)
    }
}

/// An encoder (the default unless named) and the subject masker, from verified weight files.
func loadModels(encoder name: String = EncoderKind.default.rawValue) throws -> (encoder: any PerceptualEncoder, masker: SubjectMasker) {
    let models = try PerceptionModels.loadDefault()
    if name == EncoderKind.default.rawValue { return (models.encoder, models.masker) }
    return (try PerceptionModels.loadEncoder(named: name), models.masker)
}

/// The files `sketch` and `batch` write for one sketch: the three SVGs, the preview and the mask.
func writeSketchFiles(_ drawing: SketchDrawing, mask: GrayImage, to dir: String) throws {
    for part in SketchPart.allCases { try drawing.svg(part).write(to: "\(dir)/\(part.rawValue).svg") }
    try ImageFile.writePNG(drawing.preview(scale: 2), to: "\(dir)/preview.png")
    try ImageFile.writePNG(mask, to: "\(dir)/mask.png")
}
