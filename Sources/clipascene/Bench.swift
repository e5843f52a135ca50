import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

/// One line of the bench report, on stdout: `bench` is a one-shot command whose output is
/// this report (only `serve` reserves stdout for protocol messages).
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Wall-clock seconds of the fastest of `repeats` runs (after one warm-up).
func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

/// The sgemm throughput of this machine right now, the yardstick every other figure is a ratio to.
struct Roofline {
    let gflops: Double
    let threads: Int

    /// Best of five 1024³ products: big enough that splitting across threads costs little
    /// (512³ on two threads measured no faster than on one in a busy moment).
    static func measure(threads: Int) -> Roofline {
        let (m, n, k) = (1024, 1024, 1024)
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        let saved = ComputeThreads.count
        ComputeThreads.set(threads)
        defer { ComputeThreads.set(saved) }
        let t = bestTime(repeats: 5) {
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, c: pc.baseAddress!, ldc: n)
            }}}
        }
        return Roofline(gflops: 2.0 * Double(m * n * k) / t / 1e9, threads: threads)
    }

    /// How long `flops` would take at the sgemm rate.
    func seconds(forFlops flops: Double) -> Double { flops / (gflops * 1e9) }

    /// The arithmetic ceiling: twelve independent eight-lane multiply-add chains per thread (more
    /// than the FMA latency needs), no memory traffic. No product can run faster than this.
    static func fmaPeak(threads: Int) -> Double {
        let iterations = 4_000_000
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: threads)
        defer { sink.deallocate() }
        let out = UncheckedSendable(sink)
        let t = bestTime(repeats: 3) {
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                let m = SIMD8<Float>(repeating: 0.999999), c = SIMD8<Float>(repeating: 1e-7)
                var (a0, a1, a2, a3) = (SIMD8<Float>(repeating: 1), SIMD8<Float>(repeating: 2), SIMD8<Float>(repeating: 3), SIMD8<Float>(repeating: 4))
                var (a4, a5, a6, a7) = (a0 + 4, a1 + 4, a2 + 4, a3 + 4)
                var (a8, a9, a10, a11) = (a0 + 8, a1 + 8, a2 + 8, a3 + 8)
                for _ in 0..<iterations {
                    a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
                    a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
                    a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
                    a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
                }
                out.value[thread] = (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
            }
        }
        return Double(threads * iterations * 12 * 16) / t / 1e9
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time each component and compare it with the sgemm roofline measured in the same run.")

    @Argument(help: "What to time: render, encoder, kernels, mask, step, prepare, server (server is left out unless named); or `quality [PHOTOS…]` for the drawing-quality benchmark; or `interactive [PHOTO]` for what a client of `serve` waits for, against its budgets.")
    var components: [String] = ["render", "encoder", "kernels", "mask", "step", "prepare"]

    @Option(help: "quality: output folder for the table, the JSON record and the contact sheet.")
    var out: String = "out/quality"

    @Option(help: "quality, interactive: fidelity steps per part (the sketch default).")
    var iterations: Int = 200

    @Option(help: "quality: fidelity levels to draw, comma-separated (more than one cell: a matrix per photo).")
    var fidelities: String = "0"

    @Option(help: "quality: simplicity levels to draw, comma-separated and increasing (levels chain).")
    var simplicities: String = "0"

    @Option(help: "quality: compare this raw encoder block instead of the fidelity level's blocks.")
    var depth: Int?

    @Option(help: "quality: the seed every photo is drawn with (compare means over several: one drawing decides nothing).")
    var seed: UInt64 = 0

    @Flag(help: "quality: measure each photo's drawing along the run (precision, recall, loss against wall time) under each --candidates schedule, with a plot per photo.")
    var curve = false

    @Option(help: "quality --curve: schedules to compare, name:key=value,… separated by ';' (keys: the settings' wire names, e.g. fast:learningRate=1e-3,iterations=60). Default: the default settings.")
    var candidates: String = "default:iterations=200"

    @Option(help: "Threads for the timed work (default: all cores).")
    var threads: Int = ComputeThreads.defaultCount()

    @Option(help: "Encoder for the encoder component: efficientnet-lite0 or clip-vit-b32 (full size, random weights).")
    var encoder: String = EncoderKind.default.rawValue

    @Flag(help: "Also time PyTorch on the same encoder work in this run (scripts/bench; needs python3 with torch), weights frozen and trainable.")
    var pytorch = false

    @Option(help: "Rounds of the encoder comparison, alternating ours and PyTorch (with --pytorch); interactive: rounds alternating this binary and --baseline.")
    var rounds: Int = 1

    @Option(help: "interactive: another build of clipascene to run the same scenario on, alternating with this one (a speed claim is a ratio against the commit the work started on).")
    var baseline: String?

    @Option(help: "interactive: seconds the user looks at the finished drawing before the last two changes (the server may use them).")
    var idle: Double = 20

    @Flag(help: "interactive: also time runMatrix 4 × 4 on its own server (minutes).")
    var matrix = false

    @Option(help: "interactive: simplicity steps per part and level (default: the sketch default).")
    var simplicityIterations: Int?

    @Option(help: "interactive: the checkpoint folder the servers are given (default: each binary finds its own).")
    var checkpoints: String?

    func run() throws {
        if components.first == "interactive" {
            guard components.count <= 2 else { throw ValidationError("bench interactive takes one photo") }
            guard rounds >= 1, idle >= 0 else { throw ValidationError("--rounds must be at least 1 and --idle not negative") }
            var binaries = [(name: "this build", path: "/proc/self/exe")]
            if let baseline {
                guard FileManager.default.isExecutableFile(atPath: baseline) else {
                    throw ValidationError("--baseline \(baseline) is not an executable file")
                }
                binaries.append((name: "baseline", path: baseline))
            }
            let bench = InteractiveBench(photo: components.count == 2 ? components[1] : "examples/bull.jpg", binaries: binaries,
                                         rounds: rounds, idleSeconds: idle, matrix: matrix, checkpoints: checkpoints,
                                         iterations: iterations == Abstraction().iterations ? nil : iterations,
                                         simplicityIterations: simplicityIterations)
            let results = try bench.run()
            report(bench.table(results))
            return
        }
        if components.first == "quality" {
            var photos = Array(components.dropFirst())
            if photos.isEmpty {
                // The project's benchmark photos when they are beside the repository, else the examples.
                let shared = "../shared/data"
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: shared)) ?? [])
                    .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
                photos = names.isEmpty ? ["examples/bull.jpg", "examples/house.jpg"] : names.map { "\(shared)/\($0)" }
            }
            var a = Abstraction()
            a.iterations = iterations
            a.depth = depth
            a.seed = seed
            do { try a.validate() } catch let e as AbstractionError { throw ValidationError(e.description) }
            func levels(_ text: String, _ option: String) throws -> [Int] {
                let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                    throw ValidationError("--\(option) takes comma-separated levels, e.g. 0,1,2,3; got '\(text)'")
                }
                return values.compactMap { $0 }
            }
            if curve {
                guard let rsvg = QualityBenchmark.which("rsvg-convert") else {
                    throw UserFacingError(description: "bench quality renders with rsvg-convert: install it (apt-get install librsvg2-bin)")
                }
                let list: [QualityCurve.Candidate]
                do { list = try QualityCurve.parseCandidates(candidates, base: a) } catch let e as AbstractionError {
                    throw ValidationError(e.description)
                }
                return try QualityCurve(photos: photos, out: out, candidates: list).run(rsvg: rsvg, models: try loadModels())
            }
            let f = try levels(fidelities, "fidelities"), s = try levels(simplicities, "simplicities")
            if f.count == 1 && s.count == 1 { a.fidelity = f[0]; a.simplicity = s[0] }   // one sketch at that abstraction
            var bench = QualityBenchmark(photos: photos, out: out, abstraction: a)
            bench.fidelities = f
            bench.simplicities = s
            do { _ = try AbstractionMatrix(fidelities: bench.fidelities, simplicities: bench.simplicities, base: a) } catch let e as AbstractionError {
                throw ValidationError(e.description)
            }
            return try bench.run()
        }
        let known = ["render", "encoder", "kernels", "mask", "step", "prepare", "server"]
        for c in components where !known.contains(c) {
            throw ValidationError("unknown component '\(c)'; choose from: \(known.joined(separator: ", "))")
        }
        guard EncoderKind(rawValue: encoder) != nil else {
            throw ValidationError("unknown encoder '\(encoder)'; choose from: efficientnet-lite0, clip-vit-b32")
        }
        let one = Roofline.measure(threads: 1)
        let all = Roofline.measure(threads: threads)
        report("sgemm roofline (1024³): \(String(format: "%.1f", one.gflops)) GFLOP/s on 1 thread, "
              + "\(String(format: "%.1f", all.gflops)) GFLOP/s on \(threads)"
              + String(format: "; FMA peak %.1f / %.1f GFLOP/s", Roofline.fmaPeak(threads: 1), Roofline.fmaPeak(threads: threads)))
        if components.contains("render") { benchRender(roof: one) }
        if components.contains("encoder") {
            if encoder == EncoderKind.clipViTB32.rawValue { benchCLIP(roof: all) } else { try benchEncoder(roof: all) }
        }
        if components.contains("kernels") { benchKernels(roof: one) }
        if components.contains("mask") { try benchMask(roof: all) }
        if components.contains("step") { try benchStep() }
        if components.contains("prepare") { try benchPrepare() }
        if components.contains("server") { try benchServer() }
    }
}
