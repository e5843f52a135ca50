import Foundation
import Imaging
import Models

/// Where a sketch's subject mask comes from.
public enum MaskSource: Equatable, Sendable {
    /// U²-Net-p finds the subject.
    case auto
    /// No subject: the whole scene is sketched as background.
    case none
    /// A mask image (white = subject), resized to the photo and thresholded at ½.
    case file(String)

    /// "auto", "none" or a path.
    public init(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        default: self = .file(text)
        }
    }

    /// The mask at the photo's size. A mask file that cannot be read throws its `ImageError`.
    public func mask(for photo: RGBImage, masker: SubjectMasker) throws -> GrayImage {
        switch self {
        case .auto: return try masker.mask(photo)
        case .none: return GrayImage(width: photo.width, height: photo.height, value: 0)
        case .file(let path):
            return try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide).gray
                .resized(width: photo.width, height: photo.height, filter: .bilinear).thresholded()
        }
    }
}

/// Where the background part's target comes from.
public enum BackgroundSource: Equatable, Sendable {
    /// The photo with the subject region filled in (push-pull inpainting).
    case auto
    /// A user-given background image (resized to the canvas).
    case file(String)

    public init(_ text: String) { self = text == "auto" ? .auto : .file(text) }

    public func image() throws -> RGBImage? {
        guard case .file(let path) = self else { return nil }
        return try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide)
    }
}
