import ArgumentParser
import Foundation
import Imaging
import Models

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the engine sees in a photo: the subject mask and the saliency map.",
        discussion: "Writes mask.png, saliency.png and prepare.png (photo | saliency | mask side by side) into --out.")

    @Argument(help: "A PNG or JPEG photo.")
    var image: String

    @Option(help: "Folder for the pictures.")
    var out: String = "out/prepare"

    func run() throws {
        try AtomicFile.prepareFolder(out, files: ["mask.png", "saliency.png", "prepare.png"])
        let photo = try loadPhoto(image)
        let (encoder, masker) = try loadModels()
        let t0 = Date()
        let mask = try masker.mask(photo)
        let t1 = Date()
        let saliency = Saliency.map(photo, encoder: encoder)
        let t2 = Date()
        try ImageFile.writePNG(mask, to: "\(out)/mask.png")
        try ImageFile.writePNG(saliency, to: "\(out)/saliency.png")
        try ImageFile.writePNG(sideBySide([photo, saliency.rgb, mask.rgb]), to: "\(out)/prepare.png")
        FileHandle.standardError.write(Data(String(format: "mask %.2f s (subject covers %.0f%%), saliency %.2f s; wrote %@/prepare.png\n",
                                                   t1.timeIntervalSince(t0), mask.coverage * 100, t2.timeIntervalSince(t1), out).utf8))
    }
}

/// Images of equal height placed left to right with a white gap.
func sideBySide(_ images: [RGBImage], gap: Int = 8) -> RGBImage {
    let h = images.map(\.height).max() ?? 1
    let w = images.map(\.width).reduce(0, +) + gap * max(0, images.count - 1)
    var sheet = RGBImage(width: w, height: h)
    var x0 = 0
    for img in images {
        for c in 0..<3 { for y in 0..<img.height { for x in 0..<img.width { sheet[c, x0 + x, y] = img[c, x, y] } } }
        x0 += img.width + gap
    }
    return sheet
}
