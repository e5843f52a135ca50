import Foundation
import JSONRPC

/// `clipascene bench interactive`: what a user at an editor waits for, measured through
/// `serve` as a client sees it, each figure against its budget (issue 34's table). With a
/// baseline binary the same scenario runs on it too, alternating round by round in one run, so
/// the machine's drift falls on both alike.
struct InteractiveBench {
    /// One figure of the table: what is timed, its budget, and its unit.
    struct Figure {
        let key: String
        let label: String
        let budget: Double
        let unit: String
    }

    static let figures = [
        Figure(key: "first", label: "loadImage → first getSVG with strokes", budget: 1.5, unit: "s"),
        Figure(key: "schedule", label: "whole default schedule (`step` to the end)", budget: 22, unit: "s"),
        Figure(key: "fidelity", label: "finished document: fidelity 0 → 2, then `step` to the end", budget: 6, unit: "s"),
        Figure(key: "simplicity", label: "then simplicity 0 → 2, to the end", budget: 4, unit: "s"),
        Figure(key: "idleFidelity", label: "after looking for IDLE s: fidelity +1, to the end", budget: 1.5, unit: "s"),
        Figure(key: "idleSimplicity", label: "then simplicity +1, to the end", budget: 1.5, unit: "s"),
        Figure(key: "memory", label: "peak memory of the server through the above", budget: 350, unit: "MB"),
        Figure(key: "matrix", label: "`runMatrix` 4 × 4 (own server)", budget: 360, unit: "s"),
        Figure(key: "matrixMemory", label: "peak memory of that server", budget: 450, unit: "MB"),
    ]

    let photo: String
    let binaries: [(name: String, path: String)]
    let rounds: Int
    let idleSeconds: Double
    let matrix: Bool
    let checkpoints: String?
    /// Fidelity and simplicity steps per part (nil: the defaults; the tests use a few).
    var iterations: Int? = nil, simplicityIterations: Int? = nil

    /// Every round runs every binary's scenario once, in turn; returns [binary][round][key].
    func run() throws -> [[[String: Double]]] {
        var results = [[[String: Double]]](repeating: [], count: binaries.count)
        for round in 1...rounds {
            for (b, binary) in binaries.enumerated() {
                FileHandle.standardError.write(Data("bench interactive: round \(round) of \(rounds), \(binary.name)\n".utf8))
                var figures = try scenario(binary.path)
                if matrix { figures.merge(try matrixFigures(binary.path)) { $1 } }
                results[b].append(figures)
            }
        }
        return results
    }

    private func start(_ binary: String) throws -> ServedEngine {
        var arguments = ["serve", "--no-snapshots"]
        if let checkpoints { arguments += ["--checkpoints", checkpoints] }
        let engine = try ServedEngine(executable: binary, arguments: arguments)
        try engine.call("initialize", "{\"processId\":null,\"capabilities\":{}}")
        return engine
    }

    private func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    private var uri: String { "bench" }
    private func toEnd(_ engine: ServedEngine) throws {
        let result = try engine.call("step", "{\"uri\":\"\(uri)\",\"count\":1000000}")
        guard result["complete"] == .bool(true) else { throw UserFacingError(description: "step did not reach the end: \(result)") }
    }

    private func set(_ engine: ServedEngine, _ settings: String) throws {
        try engine.call("setAbstraction", "{\"uri\":\"\(uri)\",\(settings)}")
    }

    /// The schedule asked for, when it is not the default.
    private func applySchedule(_ engine: ServedEngine) throws {
        let schedule = [iterations.map { "\"iterations\":\($0)" }, simplicityIterations.map { "\"simplicityIterations\":\($0)" }]
            .compactMap { $0 }
        if !schedule.isEmpty { try set(engine, schedule.joined(separator: ",")) }
    }

    private func scenario(_ binary: String) throws -> [String: Double] {
        let engine = try start(binary)
        var out: [String: Double] = [:]
        let path = URL(fileURLWithPath: photo).path
        out["first"] = try seconds {
            try engine.call("loadImage", "{\"uri\":\"\(uri)\",\"path\":\(JSON.string(path).text)}")
            let svg = try engine.call("getSVG", "{\"uri\":\"\(uri)\"}")
            guard case .string(let text)? = svg["svg"], text.contains("<path") else {
                throw UserFacingError(description: "the first getSVG had no strokes")
            }
        }
        try applySchedule(engine)
        out["schedule"] = try seconds { try toEnd(engine) }
        out["fidelity"] = try seconds { try set(engine, "\"fidelity\":2"); try toEnd(engine) }
        out["simplicity"] = try seconds { try set(engine, "\"simplicity\":2"); try toEnd(engine) }
        Thread.sleep(forTimeInterval: idleSeconds)
        out["idleFidelity"] = try seconds { try set(engine, "\"fidelity\":3"); try toEnd(engine) }
        out["idleSimplicity"] = try seconds { try set(engine, "\"simplicity\":3"); try toEnd(engine) }
        out["memory"] = engine.peakMemory.map { Double($0) / 1e6 }
        try engine.stop()
        return out
    }

    private func matrixFigures(_ binary: String) throws -> [String: Double] {
        let engine = try start(binary)
        try engine.call("loadImage", "{\"uri\":\"\(uri)\",\"path\":\(JSON.string(URL(fileURLWithPath: photo).path).text)}")
        try applySchedule(engine)
        var out: [String: Double] = [:]
        out["matrix"] = try seconds {
            try engine.call("runMatrix", "{\"uri\":\"\(uri)\",\"fidelities\":[0,1,2,3],\"simplicities\":[0,1,2,3]}")
        }
        out["matrixMemory"] = engine.peakMemory.map { Double($0) / 1e6 }
        try engine.stop()
        return out
    }

    /// The table in Markdown: each binary's figure (the median over rounds, every round in
    /// brackets when there are several) and whether the first binary's meets its budget.
    func table(_ results: [[[String: Double]]]) -> String {
        func format(_ v: Double, _ unit: String) -> String { unit == "MB" ? String(format: "%.0f", v) : String(format: "%.1f", v) }
        var lines = ["| figure | budget | " + binaries.map(\.name).joined(separator: " | ") + " | " + (binaries.count > 1 ? "ratio | " : "") + "meets budget |",
                     "|---|---|" + String(repeating: "---|", count: binaries.count + (binaries.count > 1 ? 2 : 1))]
        for f in Self.figures {
            let perBinary = results.map { rounds in rounds.compactMap { $0[f.key] } }
            guard perBinary.contains(where: { !$0.isEmpty }) else { continue }
            let medians = perBinary.map { $0.isEmpty ? nil : $0.sorted()[$0.count / 2] }
            let cells = zip(perBinary, medians).map { values, median -> String in
                guard let median else { return "–" }
                let each = values.count > 1 ? " (" + values.map { format($0, f.unit) }.joined(separator: ", ") + ")" : ""
                return format(median, f.unit) + " " + f.unit + each
            }
            var row = "| \(f.label.replacingOccurrences(of: "IDLE", with: String(format: "%.0f", idleSeconds))) | ≤ \(format(f.budget, f.unit)) \(f.unit) | "
                + cells.joined(separator: " | ") + " | "
            if binaries.count > 1 {
                if let ours = medians[0], let theirs = medians[1], theirs > 0 { row += String(format: "%.2f", ours / theirs) + " | " } else { row += "– | " }
            }
            row += medians[0].map { $0 <= f.budget ? "yes" : "**no**" } ?? "–"
            lines.append(row + " |")
        }
        return lines.joined(separator: "\n")
    }
}
