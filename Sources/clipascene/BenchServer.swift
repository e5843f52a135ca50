import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

extension Bench {
    /// The cost of going through `clipascene serve`: the same 20 steps (64 strokes, one part)
    /// called directly on a SketchSession, then requested from a server child process.
    func benchServer() throws {
        let steps = 10, rounds = 3
        let photoPath = "examples/bull.jpg"
        var abstraction = Abstraction()
        abstraction.iterations = 1000
        let photo = try loadPhoto(photoPath)
        let (encoder, _) = try loadModels()
        let empty = GrayImage(width: photo.width, height: photo.height, value: 0)
        let session = try SketchSession(photo: photo, subjectMask: empty, encoder: encoder, abstraction: abstraction)

        let state = NSTemporaryDirectory() + "clipascene-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let engine = try ServedEngine(executable: "/proc/self/exe", arguments: ["serve", "--state-dir", state])
        func call(_ method: String, _ params: String) throws { try engine.call(method, params) }
        let image = URL(fileURLWithPath: photoPath).path
        try call("initialize", "{}")
        try call("loadImage", "{\"uri\":\"b\",\"path\":\"\(image)\",\"options\":{\"mask\":\"none\"}}")
        try call("setAbstraction", "{\"uri\":\"b\",\"iterations\":1000}")
        try call("step", "{\"uri\":\"b\",\"count\":2}")
        session.step(2)
        // Alternating rounds, best of each: the machine's noise is larger than the effect.
        var served = Double.infinity, direct = Double.infinity
        for _ in 0..<rounds {
            usleep(500_000)   // let the other side's BLAS threads stop spinning
            let t1 = Date()
            try call("step", "{\"uri\":\"b\",\"count\":\(steps),\"workDoneToken\":\"p\"}")
            served = min(served, Date().timeIntervalSince(t1) / Double(steps))
            usleep(500_000)
            let t0 = Date()
            session.step(steps)
            direct = min(direct, Date().timeIntervalSince(t0) / Double(steps))
        }
        // Round trips of a trivial request and of getSVG (two parts' strokes), medians.
        func median(_ n: Int, _ method: String, _ params: String) throws -> Double {
            var times: [Double] = []
            for _ in 0..<n {
                let t = Date()
                try call(method, params)
                times.append(Date().timeIntervalSince(t))
            }
            return times.sorted()[n / 2]
        }
        let trivial = try median(200, "getStatus", "{}")
        let svg = try median(50, "getSVG", "{\"uri\":\"b\"}")
        try engine.stop()
        let snapshotTime = bestTime(repeats: 3) { _ = try? session.snapshot() }
        let snapshotBytes = (try? session.snapshot().count) ?? 0
        report("\nserver: one part, 64 strokes; best of \(rounds) alternating rounds of \(steps) steps; "
              + "the served steps include progress and the end-of-request snapshot")
        report(String(format: "direct %.3f s/step   through serve %.3f s/step   overhead %+.1f%%",
                     direct, served, (served / direct - 1) * 100))
        report(String(format: "snapshot: %.1f MB in %.0f ms", Double(snapshotBytes) / 1e6, snapshotTime * 1e3))
        // The budgets a client can count on (an editor redraws on getSVG).
        report(String(format: "round trip: getStatus median %.3f ms", trivial * 1e3) + " (budget 5 ms: \(trivial < 0.005 ? "ok" : "OVER")), "
               + String(format: "getSVG median %.3f ms", svg * 1e3) + " (budget 20 ms: \(svg < 0.02 ? "ok" : "OVER"))")
    }
}
