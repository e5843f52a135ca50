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
        var seconds: Double
    }

    static let side = 224

    /// Strokes on the page whose control polygon is shorter than their stroke width.
    static func dots(_ drawing: SketchDrawing) -> Int {
        (drawing.foreground + drawing.background).filter { s in
            let onPage = s.points.contains { $0.x >= 0 && $0.y >= 0 && $0.x <= Float(drawing.width) && $0.y <= Float(drawing.height) }
            var length: Float = 0
            for (a, b) in zip(s.points, s.points.dropFirst()) { length += ((b - a) * (b - a)).sum().squareRoot() }
            return onPage && length < 2 * s.halfWidth
        }.count
    }

    func run() throws {
        guard let rsvg = Self.which("rsvg-convert") else {
            throw UserFacingError(description: "bench quality renders with rsvg-convert: install it (apt-get install librsvg2-bin)")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let models = try loadModels()
        var rows: [Row] = []
        var sheetRows: [(RGBImage, RGBImage)] = []
        for path in photos {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let started = Date()
            let photo = try loadPhoto(path)
            let mask = try MaskSource("auto").mask(for: photo, masker: models.masker)
            let session = try SketchSession(photo: photo, subjectMask: mask, encoder: models.encoder, abstraction: abstraction)
            session.step(session.totalSteps)
            let seconds = Date().timeIntervalSince(started)
            let drawing = session.scene.drawing
            let folder = "\(out)/\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try drawing.combinedSVG().write(to: "\(folder)/combined.svg")
            let scale = Double(Self.side) / Double(max(photo.width, photo.height))
            let w = max(1, Int((Double(photo.width) * scale).rounded())), h = max(1, Int((Double(photo.height) * scale).rounded()))
            try Self.runTool(rsvg, ["-w", "\(w)", "-h", "\(h)", "-b", "white", "\(folder)/combined.svg", "-o", "\(folder)/combined.png"])
            let sketch = try ImageFile.decode(path: "\(folder)/combined.png")
            let target = photo.resized(width: sketch.width, height: sketch.height).clamped()
            let q = DrawingQuality(sketch: sketch.gray, photo: target.gray)
            rows.append(Row(photo: URL(fileURLWithPath: path).lastPathComponent, precision: q.precision, recall: q.recall,
                            ink: q.ink, dots: Self.dots(drawing), seconds: seconds))
            sheetRows.append((target, sketch))
            FileHandle.standardError.write(Data("\(name): done in \(String(format: "%.0f", seconds)) s\n".utf8))
        }
        var table = "| photo | precision px | recall px | ink | dots | s |\n|---|---|---|---|---|---|\n"
        for r in rows {
            table += String(format: "| %@ | %.2f | %.2f | %.3f | %d | %.0f |\n", r.photo, r.precision, r.recall, r.ink, r.dots, r.seconds)
        }
        FileHandle.standardOutput.write(Data(table.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(rows), to: "\(out)/quality.json")
        try AtomicFile.write(Data(table.utf8), to: "\(out)/quality.md")
        try ImageFile.writePNG(Self.contactSheet(sheetRows), to: "\(out)/quality.png")
        FileHandle.standardError.write(Data("wrote \(out)/quality.md, quality.json and quality.png (photo | sketch)\n".utf8))
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
