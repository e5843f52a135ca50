import Foundation
import Imaging
import Models
import Sketching
import Vector

/// `clipascene bench quality --curve`: each photo sketched under each candidate schedule, the
/// drawing measured (precision, recall; docs/quality.md) at points along the run, against the
/// wall time spent stepping (measuring excluded) — the evidence the default schedule is chosen
/// by (docs/performance.md). Writes DIR/curve.json and a plot per photo, DIR/NAME-curve.png.
struct QualityCurve {
    /// A named schedule: the abstraction the sketch runs at.
    struct Candidate {
        var name: String
        var abstraction: Abstraction
    }

    struct Point: Codable {
        var step: Int
        var seconds: Double
        var precision: Double
        var recall: Double
        /// The clean-view loss of the latest step, summed over the parts that have stepped.
        var loss: Double?
    }

    struct Run: Codable {
        var photo: String
        var candidate: String
        var points: [Point]
    }

    var photos: [String]
    var out: String
    var candidates: [Candidate]
    /// Measurements along each run (evenly spaced in steps, the last at the end).
    var pointsPerRun = 16

    /// Parses `name:key=value,key=value;name2:…` over `base` (keys: the settings' wire names).
    static func parseCandidates(_ text: String, base: Abstraction) throws -> [Candidate] {
        try text.split(separator: ";").map { item in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw UserFacingError(description: "a candidate is name:key=value,… (e.g. fast:learningRate=1e-3,iterations=60); got '\(item)'")
            }
            var a = base
            for pair in parts[1].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { throw UserFacingError(description: "'\(pair)' in candidate \(parts[0]) is not key=value") }
                try a.set(kv[0], kv[1])
            }
            try a.validate()
            return Candidate(name: parts[0], abstraction: a)
        }
    }

    func run(rsvg: String, models: (encoder: any PerceptualEncoder, masker: SubjectMasker)) throws {
        try AtomicFile.prepareFolder(out)
        var runs: [Run] = []
        for path in photos {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let photo = try loadPhoto(path)
            let mask = try MaskSource("auto").mask(for: photo, masker: models.masker)
            let side = QualityBenchmark.side
            let scale = Double(side) / Double(max(photo.width, photo.height))
            let w = max(1, Int((Double(photo.width) * scale).rounded())), h = max(1, Int((Double(photo.height) * scale).rounded()))
            let target = photo.resized(width: w, height: h).clamped()
            let scratch = "\(out)/\(name)-curve"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            for candidate in candidates {
                var stepping = 0.0
                var clock = Date()
                let session = try SketchSession(photo: photo, subjectMask: mask, encoder: models.encoder,
                                                abstraction: candidate.abstraction)
                stepping += Date().timeIntervalSince(clock)
                let total = session.totalSteps
                var points: [Point] = []
                let marks = [0] + (1...pointsPerRun).map { total * $0 / pointsPerRun }
                for mark in marks {
                    clock = Date()
                    session.step(mark - session.stepsDone)
                    stepping += Date().timeIntervalSince(clock)
                    let file = "\(scratch)/\(candidate.name)"
                    try session.scene.drawing.combinedSVG().write(to: "\(file).svg")
                    try QualityBenchmark.runTool(rsvg, ["-w", "\(w)", "-h", "\(h)", "-b", "white", "\(file).svg", "-o", "\(file).png"])
                    let q = DrawingQuality(sketch: try ImageFile.decode(path: "\(file).png").gray, photo: target.gray)
                    let stepped = session.scene.parts.filter { $0.step > 0 }
                    let loss = stepped.isEmpty ? nil : Double(stepped.map(\.lastLoss).reduce(0, +))
                    points.append(Point(step: session.stepsDone, seconds: stepping, precision: q.precision, recall: q.recall, loss: loss))
                }
                if let last = points.last {
                    FileHandle.standardError.write(Data(String(format: "%@ %@: %d steps in %.1f s, precision %.2f, recall %.2f\n",
                                                               name, candidate.name, last.step, last.seconds, last.precision,
                                                               last.recall).utf8))
                }
                runs.append(Run(photo: name, candidate: candidate.name, points: points))
            }
            let plot = "\(out)/\(name)-curve"
            try Data(Self.plot(title: name, runs: runs.filter { $0.photo == name }).utf8).write(to: URL(fileURLWithPath: "\(plot).svg"))
            try QualityBenchmark.runTool(rsvg, ["-b", "white", "\(plot).svg", "-o", "\(plot).png"])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(runs), to: "\(out)/curve.json")
        var table = "| photo | candidate | steps | s | precision px | recall px |\n|---|---|---|---|---|---|\n"
        for r in runs { if let p = r.points.last {
            table += String(format: "| %@ | %@ | %d | %.1f | %.2f | %.2f |\n", r.photo, r.candidate, p.step, p.seconds, p.precision, p.recall)
        } }
        FileHandle.standardOutput.write(Data(table.utf8))
        try AtomicFile.write(Data(table.utf8), to: "\(out)/curve.md")
        FileHandle.standardError.write(Data("wrote \(out)/curve.md, curve.json and NAME-curve.png (precision, recall, loss against seconds)\n".utf8))
    }

    /// Three panels side by side (precision, recall, loss against seconds), a line per candidate.
    static func plot(title: String, runs: [Run]) -> String {
        let panelW = 300.0, panelH = 220.0, left = 48.0, top = 34.0, gap = 70.0, bottom = 40.0
        let colours = ["#444444", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
        let width = left + 3 * panelW + 2 * gap + 20, height = top + panelH + bottom + 18 * Double(runs.count) + 10
        var svg = String(format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"DejaVu Sans\" font-size=\"11\">\n", width, height)
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"14\">\(title): the drawing against wall time (lower is better)</text>\n"
        let maxSeconds = max(1e-3, runs.flatMap { $0.points.map(\.seconds) }.max() ?? 1)
        let panels: [(String, (Point) -> Double?)] = [("precision px", { $0.precision }), ("recall px", { $0.recall }), ("loss", { $0.loss })]
        for (p, panel) in panels.enumerated() {
            let x0 = left + Double(p) * (panelW + gap)
            let values = runs.flatMap { $0.points.compactMap(panel.1) }.filter(\.isFinite)
            guard var lo = values.min(), var hi = values.max() else { continue }
            if hi - lo < 1e-6 { lo -= 0.5; hi += 0.5 }
            let pad = (hi - lo) * 0.05
            lo -= pad; hi += pad
            func x(_ s: Double) -> Double { x0 + s / maxSeconds * panelW }
            func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * panelH }
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", x0, top, panelW, panelH)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", x0, top - 6, panel.0)
            for k in 0...4 {
                let v = lo + (hi - lo) * Double(k) / 4, s = maxSeconds * Double(k) / 4
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", x0 - 4, y(v) + 4, v)
                svg += String(format: maxSeconds < 10 ? "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f s</text>\n" : "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f s</text>\n", x(s), top + panelH + 14, s)
            }
            for (r, run) in runs.enumerated() {
                let pts = run.points.compactMap { pt in panel.1(pt).flatMap { $0.isFinite ? String(format: "%.1f,%.1f", x(pt.seconds), y($0)) : nil } }
                svg += "<polyline fill=\"none\" stroke=\"\(colours[r % colours.count])\" stroke-width=\"1.6\" points=\"\(pts.joined(separator: " "))\"/>\n"
            }
        }
        for (r, run) in runs.enumerated() {
            let y = top + panelH + bottom + 18 * Double(r)
            let last = run.points.last
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"/>\n", left, y - 4, left + 24, y - 4, colours[r % colours.count])
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@: %d steps, %.1f s, precision %.2f, recall %.2f</text>\n", left + 32, y,
                          run.candidate, last?.step ?? 0, last?.seconds ?? 0, last?.precision ?? 0, last?.recall ?? 0)
        }
        return svg + "</svg>\n"
    }
}

extension Abstraction {
    /// Sets one setting by its wire name from text (the bench's candidate strings).
    mutating func set(_ key: String, _ value: String) throws {
        func int() throws -> Int {
            guard let v = Int(value) else { throw UserFacingError(description: "\(key) takes a whole number, got '\(value)'") }
            return v
        }
        func float() throws -> Float {
            guard let v = Float(value), v.isFinite else { throw UserFacingError(description: "\(key) takes a number, got '\(value)'") }
            return v
        }
        switch key {
        case "fidelity": fidelity = try int()
        case "simplicity": simplicity = try int()
        case "strokes": strokes = try int()
        case "strokeWidth": strokeWidth = try float()
        case "seed": seed = UInt64(max(0, try int()))
        case "iterations": iterations = try int()
        case "simplicityIterations": simplicityIterations = try int()
        case "learningRate": learningRate = try float()
        case "augmentations": augmentations = try int()
        case "depth": depth = try int()
        default: throw UserFacingError(description: "unknown setting '\(key)'")
        }
    }
}
