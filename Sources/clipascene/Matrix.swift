import ArgumentParser
import Foundation
import Imaging
import Models
import Sketching
import Tensors
import Vector

struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sketch the whole abstraction matrix: fidelity levels × simplicity levels, plus a contact sheet.",
        discussion: """
        Writes f<F>_s<S>.svg (combined) for every cell and matrix.png (rows: simplicity, detailed → sparse; \
        columns: fidelity, precise → loose) into --out.
        """)

    @Argument(help: "A PNG or JPEG photo.")
    var image: String

    @Option(name: [.customLong("strokes"), .customLong("paths")], help: "Number of strokes per part (--paths is the older spelling).")
    var strokes: Int = 64

    @Option(help: "Stroke width in the SVG, in pixels of the 224-pixel canvas.")
    var strokeWidth: Float = 3

    @Option(help: "Fidelity levels (columns), comma-separated.")
    var fidelities: String = "0,1,2,3"

    @Option(help: "Simplicity levels (rows), comma-separated, increasing.")
    var simplicities: String = "0,2,4,6"

    @Option(help: "Fidelity steps per part and column.")
    var iterations: Int = 150

    @Option(help: "Steps per part for each simplicity level.")
    var simplicityIterations: Int = 40

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Output folder.")
    var out: String = "out/matrix"

    @Option(help: "Perceptual encoder (\(EncoderKind.namesList)).")
    var encoder: String = EncoderKind.default.rawValue

    func levels(_ text: String, _ range: ClosedRange<Int>, _ name: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map(range.contains) ?? false }) else {
            throw ValidationError("--\(name) takes comma-separated levels in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return values.compactMap { $0 }
    }

    func run() throws {
        var base = Abstraction()
        base.strokes = strokes
        base.strokeWidth = strokeWidth
        base.seed = seed
        base.iterations = iterations
        base.simplicityIterations = simplicityIterations
        let matrix: AbstractionMatrix
        do {
            matrix = try AbstractionMatrix(fidelities: try levels(fidelities, 0...3, "fidelities"),
                                           simplicities: try levels(simplicities, 0...SimplicityLevels.maximum, "simplicities"),
                                           base: base)
        } catch let e as AbstractionError { throw ValidationError(e.description) }
        guard EncoderKind(rawValue: encoder) != nil else {
            throw ValidationError("--encoder must be one of: \(EncoderKind.namesList); got '\(encoder)'")
        }
        try AtomicFile.prepareFolder(out, files: matrix.fileNames)
        let photo = try loadPhoto(image)
        let start = Date()
        let (encoder, masker) = try loadModels(encoder: self.encoder)
        let mask = try masker.mask(photo)
        var progress: ProgressLine? = nil
        let cells = try matrix.run(photo: photo, subjectMask: mask, encoder: encoder, onStep: { done, total, loss in
            if progress == nil { progress = ProgressLine(total: total) }
            progress?.update(step: done, loss: loss)
        }, onCell: { cell in
            try cell.drawing.combinedSVG().write(to: "\(out)/\(cell.fileName)")
        })
        progress?.finish()
        try ImageFile.writePNG(matrix.contactSheet(cells), to: "\(out)/\(AbstractionMatrix.contactSheetName)")
        FileHandle.standardError.write(Data(String(format: "%d × %d matrix in %.0f s on OpenBLAS's %@ kernels; wrote %@/matrix.png and %d SVGs\n",
                                                   matrix.simplicities.count, matrix.fidelities.count,
                                                   Date().timeIntervalSince(start), BLASKernels.current, out, cells.count).utf8))
    }
}
