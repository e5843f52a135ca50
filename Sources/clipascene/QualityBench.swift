import Foundation
import Imaging
import Models
import Sketching
import Vector

/// `clipascene bench quality [PHOTOS…]`: sketches each photo at the default settings, renders
/// the combined SVG with an independent renderer (rsvg-convert) at 224 px on the long side, and
/// reports how the drawing follows the photo's structure (DrawingQuality; docs/quality.md):
/// precision and recall in pixels, ink, dots, seconds. Writes the table, a JSON record and a
/// contact sheet (photo | sketch, a row per photo) into --out.
struct QualityBenchmark {
    var photos: [String]
    var out: String
    var abstraction: Abstraction

    struct Row: Codable {
        var photo: String
        var precision: Double
        var recall: Double
        var ink: Double
        var dots: Int
        /// Strokes the engine left out of the drawing (dots, strokes off the page).
        var omitted: Int
        var seconds: Double
    }

    static let side = 224

    /// Strokes of an SVG as written (read back from the file, so what a viewer gets is
    /// counted) with a control point on the page and a control polygon shorter than their
    /// stroke width.
    static func dots(_ svg: SVGDocument) -> Int {
        svg.strokes.filter { s in
            let onPage = s.points.contains { $0.x >= 0 && $0.y >= 0 && Double($0.x) <= svg.width && Double($0.y) <= svg.height }
            return onPage && s.controlPolygonLength < 2 * s.halfWidth
        }.count
    }

    /// The cells to draw: one (the default sketch) or a fidelity × simplicity matrix.
    var fidelities: [Int] = [0]
    var simplicities: [Int] = [0]
    var isMatrix: Bool { fidelities.count > 1 || simplicities.count > 1 }

    func run() throws {
        guard let rsvg = Self.which("rsvg-convert") else {
            throw UserFacingError(description: "bench quality renders with rsvg-convert: install it (apt-get install librsvg2-bin)")
        }
        try AtomicFile.prepareFolder(out)
        let models = try loadModels()
        let matrix = try AbstractionMatrix(fidelities: fidelities, simplicities: simplicities, base: abstraction)
        var rows: [Row] = []
        var sheetRows: [(RGBImage, RGBImage)] = []
        for path in photos {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let started = Date()
            let photo = try loadPhoto(path)
            let mask = try MaskSource("auto").mask(for: photo, masker: models.masker)
            let folder = "\(out)/\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let scale = Double(Self.side) / Double(max(photo.width, photo.height))
            let w = max(1, Int((Double(photo.width) * scale).rounded())), h = max(1, Int((Double(photo.height) * scale).rounded()))
            let target = photo.resized(width: w, height: h).clamped()
            var renders: [(cell: AbstractionMatrix.Cell, image: RGBImage)] = []
            var cellStarted = Date()
            /// Writes `drawing` as `file`.svg, renders it with rsvg-convert and adds its row.
            func record(_ drawing: SketchDrawing, file: String, label: String, seconds: Double) throws -> RGBImage {
                try drawing.combinedSVG().write(to: "\(file).svg")
                try Self.runTool(rsvg, ["-w", "\(w)", "-h", "\(h)", "-b", "white", "\(file).svg", "-o", "\(file).png"])
                let sketch = try ImageFile.decode(path: "\(file).png")
                let q = DrawingQuality(sketch: sketch.gray, photo: target.gray)
                rows.append(Row(photo: label, precision: q.precision, recall: q.recall, ink: q.ink,
                                dots: Self.dots(try SVGDocument.read(path: "\(file).svg")), omitted: drawing.omittedStrokes,
                                seconds: seconds))
                return sketch
            }
            func measure(_ cell: AbstractionMatrix.Cell) throws {
                // A matrix cell's time is its share of the chained run; the single sketch's includes the mask.
                let seconds = Date().timeIntervalSince(isMatrix ? cellStarted : started)
                let file = "\(folder)/" + (isMatrix ? String(cell.fileName.dropLast(".svg".count)) : "combined")
                var label = URL(fileURLWithPath: path).lastPathComponent
                if isMatrix { label += " f\(cell.fidelity) s\(cell.simplicity)" }
                renders.append((cell, try record(cell.drawing, file: file, label: label, seconds: seconds)))
                // The level's last step beside its selected evaluation (docs/quality.md, the selection's evidence).
                if let last = cell.lastStep { _ = try record(last, file: file + "_last", label: label + " last step", seconds: 0) }
                cellStarted = Date()
            }
            if isMatrix {
                try matrix.run(photo: photo, subjectMask: mask, encoder: models.encoder, onCell: measure)
            } else {
                // One sketch at the given abstraction (a raw depth included, which a matrix's columns ignore).
                let session = try SketchSession(photo: photo, subjectMask: mask, encoder: models.encoder, abstraction: abstraction)
                session.step(session.totalSteps)
                try measure(AbstractionMatrix.Cell(fidelity: abstraction.fidelity, simplicity: abstraction.simplicity,
                                                   drawing: session.scene.drawing))
            }
            if isMatrix {
                try ImageFile.writePNG(Self.matrixSheet(photo: target, cells: renders, fidelities: fidelities,
                                                        simplicities: simplicities), to: "\(out)/\(name)-matrix.png")
            } else if let only = renders.first {
                sheetRows.append((target, only.image))
            }
            FileHandle.standardError.write(Data("\(name): done in \(String(format: "%.0f", Date().timeIntervalSince(started))) s\n".utf8))
        }
        var table = "| photo | precision px | recall px | ink | dots | left out | s |\n|---|---|---|---|---|---|---|\n"
        for r in rows {
            table += String(format: "| %@ | %.2f | %.2f | %.3f | %d | %d | %.0f |\n", r.photo, r.precision, r.recall, r.ink, r.dots,
                            r.omitted, r.seconds)
        }
        FileHandle.standardOutput.write(Data(table.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(rows), to: "\(out)/quality.json")
        try AtomicFile.write(Data(table.utf8), to: "\(out)/quality.md")
        if isMatrix {
            FileHandle.standardError.write(Data("wrote \(out)/quality.md, quality.json and NAME-matrix.png (photo, then fidelity columns; a row per simplicity level)\n".utf8))
        } else {
            try ImageFile.writePNG(Self.contactSheet(sheetRows), to: "\(out)/quality.png")
            FileHandle.standardError.write(Data("wrote \(out)/quality.md, quality.json and quality.png (photo | sketch)\n".utf8))
        }
    }

    /// One photo's matrix as the independent renderer drew it: the photo in the first column of
    /// the first row, then a column per fidelity level, a row per simplicity level.
    static func matrixSheet(photo: RGBImage, cells: [(cell: AbstractionMatrix.Cell, image: RGBImage)],
                            fidelities: [Int], simplicities: [Int]) -> RGBImage {
        let gap = 8
        let cw = max(photo.width, cells.map(\.image.width).max() ?? 1), ch = max(photo.height, cells.map(\.image.height).max() ?? 1)
        var sheet = RGBImage(width: gap + (fidelities.count + 1) * (cw + gap), height: gap + simplicities.count * (ch + gap))
        func paste(_ image: RGBImage, column: Int, row: Int) {
            let x0 = gap + column * (cw + gap), y0 = gap + row * (ch + gap)
            for y in 0..<image.height { for x in 0..<image.width { for c in 0..<3 { sheet[c, x0 + x, y0 + y] = image[c, x, y] } } }
        }
        paste(photo, column: 0, row: 0)
        for (cell, image) in cells {
            guard let c = fidelities.firstIndex(of: cell.fidelity), let r = simplicities.firstIndex(of: cell.simplicity) else { continue }
            paste(image, column: c + 1, row: r)
        }
        return sheet
    }

    static func contactSheet(_ rows: [(RGBImage, RGBImage)]) -> RGBImage {
        let gap = 8
        let width = rows.map { $0.0.width + $0.1.width }.max().map { $0 + 3 * gap } ?? 1
        let height = gap + rows.map { max($0.0.height, $0.1.height) + gap }.reduce(0, +)
        var sheet = RGBImage(width: width, height: height)
        var y0 = gap
        for (photo, sketch) in rows {
            for (image, x0) in [(photo, gap), (sketch, 2 * gap + photo.width)] {
                for y in 0..<image.height { for x in 0..<image.width { for c in 0..<3 { sheet[c, x0 + x, y0 + y] = image[c, x, y] } } }
            }
            y0 += max(photo.height, sketch.height) + gap
        }
        return sheet
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func runTool(_ tool: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw UserFacingError(description: "\(URL(fileURLWithPath: tool).lastPathComponent) failed: \(message)")
        }
    }
}
