import Foundation
import Imaging
import Models

/// The fidelity × simplicity matrix of one photo (the paper's figure): one run per fidelity
/// column, its simplicity levels chained, a drawing kept at each requested row.
public struct AbstractionMatrix: Sendable {
    public struct Cell: Sendable {
        public let fidelity: Int
        public let simplicity: Int
        public let drawing: SketchDrawing
        /// At a simplicity level, what the last step's parameters draw (`drawing` is the level's
        /// selected evaluation, LevelSelection); nil in the fidelity row.
        public let lastStep: SketchDrawing?

        public init(fidelity: Int, simplicity: Int, drawing: SketchDrawing, lastStep: SketchDrawing? = nil) {
            self.fidelity = fidelity
            self.simplicity = simplicity
            self.drawing = drawing
            self.lastStep = lastStep
        }

        /// The cell's SVG in a matrix's output folder: `f<fidelity>_s<simplicity>.svg`.
        public var fileName: String { AbstractionMatrix.fileName(fidelity: fidelity, simplicity: simplicity) }
    }

    /// Every file a matrix writes into its folder: one SVG per cell, then the contact sheet.
    public var fileNames: [String] {
        fidelities.flatMap { f in simplicities.map { Self.fileName(fidelity: f, simplicity: $0) } } + [Self.contactSheetName]
    }

    public static let contactSheetName = "matrix.png"

    static func fileName(fidelity: Int, simplicity: Int) -> String { "f\(fidelity)_s\(simplicity).svg" }

    public let fidelities: [Int]
    public let simplicities: [Int]
    /// Strokes, width, seed and schedule shared by every cell (its fidelity, simplicity and depth are ignored).
    public let base: Abstraction

    /// Checks the levels: fidelities in 0…3, simplicities increasing in 0…max, no repeats.
    public init(fidelities: [Int], simplicities: [Int], base: Abstraction) throws {
        guard !fidelities.isEmpty, fidelities.allSatisfy({ (0...3).contains($0) }), Set(fidelities).count == fidelities.count else {
            throw AbstractionError("fidelities must be distinct levels in 0…3, got \(fidelities)")
        }
        guard !simplicities.isEmpty, simplicities.allSatisfy({ (0...SimplicityLevels.maximum).contains($0) }),
              simplicities == simplicities.sorted(), Set(simplicities).count == simplicities.count else {
            throw AbstractionError("simplicities must be increasing levels in 0…\(SimplicityLevels.maximum) (levels chain), got \(simplicities)")
        }
        try base.validate()
        self.fidelities = fidelities
        self.simplicities = simplicities
        self.base = base
    }

    func abstraction(fidelity: Int) -> Abstraction {
        var a = base
        a.fidelity = fidelity
        a.depth = nil   // the columns are the fidelity levels, whatever single depth the base had
        a.simplicity = simplicities.last ?? 0
        return a
    }

    /// Runs every column. `onStep(done, total, loss)` after each step; `onCell` as each cell is
    /// finished. Stops early (returning the cells so far) when `shouldContinue` says so.
    @discardableResult
    public func run(photo: RGBImage, subjectMask: GrayImage, background: RGBImage? = nil, encoder: any PerceptualEncoder,
                    shouldContinue: () -> Bool = { true }, onStep: (Int, Int, Float) -> Void = { _, _, _ in },
                    onCell: (Cell) throws -> Void = { _ in }) throws -> [Cell] {
        var cells: [Cell] = []
        var done = 0
        var total = 0
        var previous: SketchSession?
        for fidelity in fidelities {
            // Rows chain (each simplicity level goes on from the one before, in one session);
            // columns start again, but from the first column's prepared targets and strokes.
            let session = try previous?.startedAgain(at: abstraction(fidelity: fidelity))
                ?? SketchSession(photo: photo, subjectMask: subjectMask, background: background,
                                 encoder: encoder, abstraction: abstraction(fidelity: fidelity))
            previous = session
            if total == 0 { total = session.totalSteps * fidelities.count }
            let base = done
            for level in 0...(simplicities.last ?? 0) {
                session.step(session.levelEnd(level) - session.stepsDone, shouldContinue: shouldContinue,
                             onStep: { onStep(base + $0, total, $1) })
                guard session.stepsDone == session.levelEnd(level) else { return cells }
                guard simplicities.contains(level) else { continue }
                let cell = Cell(fidelity: fidelity, simplicity: level, drawing: session.scene.drawing,
                                lastStep: level > 0 ? session.scene.drawing(lastStep: true) : nil)
                cells.append(cell)
                try onCell(cell)
            }
            done = base + session.stepsDone
        }
        return cells
    }

    /// Cells as a grid (rows: simplicity, columns: fidelity) with white gutters and a thin gray frame.
    public func contactSheet(_ cells: [Cell], scale: Double = 1) -> RGBImage {
        let images = cells.map { ($0, $0.drawing.preview(scale: scale)) }
        let cw = images.map(\.1.width).max() ?? 1
        let ch = images.map(\.1.height).max() ?? 1
        let gap = 12
        var sheet = RGBImage(width: gap + fidelities.count * (cw + gap), height: gap + simplicities.count * (ch + gap))
        for (cell, image) in images {
            guard let c = fidelities.firstIndex(of: cell.fidelity), let r = simplicities.firstIndex(of: cell.simplicity) else { continue }
            let x0 = gap + c * (cw + gap), y0 = gap + r * (ch + gap)
            for y in -1...image.height {
                for x in -1...image.width {
                    let frame = x < 0 || y < 0 || x == image.width || y == image.height
                    let v: Float = frame ? 0.75 : image[x, y]
                    for k in 0..<3 { sheet[k, x0 + x, y0 + y] = v }
                }
            }
        }
        return sheet
    }
}
