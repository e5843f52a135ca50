import ArgumentParser
import Foundation
import Imaging
import Models
import Sketching
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

    @Option(help: "Number of strokes per part.")
    var paths: Int = 64

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

    func levels(_ text: String, _ range: ClosedRange<Int>, _ name: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && range.contains($0!) }) else {
            throw ValidationError("--\(name) takes comma-separated levels in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return values.compactMap { $0 }
    }

    func run() throws {
        let columns = try levels(fidelities, 0...3, "fidelities")
        let rows = try levels(simplicities, 0...SimplicityLevels.maximum, "simplicities")
        guard rows == rows.sorted() else { throw ValidationError("--simplicities must be increasing (levels chain)") }
        guard (1...1024).contains(paths) else { throw ValidationError("--paths must be 1…1024, got \(paths)") }
        let photo = try loadPhoto(image)
        let start = Date()
        let (encoder, masker) = try loadModels()
        let mask = try masker.mask(photo)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let maxLevel = rows.max() ?? 0
        let progress = ProgressLine(total: columns.count * 2 * (iterations + maxLevel * simplicityIterations))
        var done = 0
        var cells: [[GrayImage?]] = Array(repeating: Array(repeating: nil, count: columns.count), count: rows.count)
        for (ci, fidelity) in columns.enumerated() {
            var abstraction = Abstraction()
            abstraction.strokes = paths
            abstraction.fidelity = fidelity
            abstraction.simplicity = maxLevel
            abstraction.seed = seed
            abstraction.iterations = iterations
            abstraction.simplicityIterations = simplicityIterations
            let session = try SketchSession(photo: photo, subjectMask: mask, encoder: encoder, abstraction: abstraction)
            let base = done
            for level in 0...maxLevel {
                session.step(session.levelEnd(level) - session.stepsDone,
                             onStep: { progress.update(step: base + $0, loss: $1) })
                guard let ri = rows.firstIndex(of: level) else { continue }
                try session.scene.combinedSVG().write(to: "\(out)/f\(fidelity)_s\(level).svg")
                cells[ri][ci] = session.scene.preview(scale: 1)
            }
            done = base + session.stepsDone
        }
        progress.finish()
        try ImageFile.writePNG(contactSheet(cells), to: "\(out)/matrix.png")
        FileHandle.standardError.write(Data(String(format: "%d × %d matrix in %.0f s; wrote %@/matrix.png and %d SVGs\n",
                                                   rows.count, columns.count, Date().timeIntervalSince(start), out,
                                                   rows.count * columns.count).utf8))
    }

    /// Cells in a grid with white gutters and a thin gray frame around each.
    func contactSheet(_ cells: [[GrayImage?]]) -> RGBImage {
        let cw = cells.flatMap { $0 }.compactMap { $0?.width }.max() ?? 1
        let ch = cells.flatMap { $0 }.compactMap { $0?.height }.max() ?? 1
        let gap = 12
        let cols = cells.first?.count ?? 0
        var sheet = RGBImage(width: gap + cols * (cw + gap), height: gap + cells.count * (ch + gap))
        for (r, row) in cells.enumerated() {
            for (c, cell) in row.enumerated() {
                guard let cell else { continue }
                let x0 = gap + c * (cw + gap), y0 = gap + r * (ch + gap)
                for y in -1...cell.height {
                    for x in -1...cell.width {
                        let frame = x < 0 || y < 0 || x == cell.width || y == cell.height
                        let v: Float = frame ? 0.75 : cell[x, y]
                        for k in 0..<3 { sheet[k, x0 + x, y0 + y] = v }
                    }
                }
            }
        }
        return sheet
    }
}
