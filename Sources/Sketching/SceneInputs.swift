import Foundation
import Imaging
import Models

/// Where a sketch's subject mask comes from.
public enum MaskSource: Equatable, Sendable {
    /// U²-Net-p finds the subject.
    case auto
    /// No subject: the whole scene is sketched as background.
    case none
    /// A mask image (white = subject; transparent = not subject), resized to the photo and
    /// thresholded at ½.
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
        case .file(let path): return try Self.fileMask(path, for: photo)
        }
    }

    /// A mask file read at the photo's size. Transparent pixels are not subject: composited
    /// on white (as photos are) a fully transparent mask was all subject.
    public static func fileMask(_ path: String, for photo: RGBImage) throws -> GrayImage {
        let image = try ImageFile.decode(path: path, maxSide: ImageFile.workingMaxSide, matte: 0)
        // A mask of another shape would be stretched over the photo, marking the wrong
        // region as the subject; sizes that differ only by rounding are fine.
        let maskAspect = Double(image.width) / Double(image.height), photoAspect = Double(photo.width) / Double(photo.height)
        guard abs(Foundation.log(maskAspect / photoAspect)) <= Self.aspectTolerance else {
            throw MaskMismatch(path: path, mask: (image.width, image.height), photo: (photo.width, photo.height))
        }
        return image.gray.resized(width: photo.width, height: photo.height, filter: .bilinear).thresholded()
    }

    /// How far a mask image's width/height ratio may be from the photo's: 2 %.
    public static let aspectTolerance = 0.02
}

/// A mask image whose shape is not the photo's.
public struct MaskMismatch: Error, CustomStringConvertible {
    public let path: String
    public let mask: (width: Int, height: Int)
    public let photo: (width: Int, height: Int)
    public var description: String {
        "\(path): the mask is \(mask.width) × \(mask.height), a different shape from the photo (\(photo.width) × \(photo.height) as read); "
            + "give a mask of the photo's proportions (white = subject)"
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
