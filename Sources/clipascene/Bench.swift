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

    @Argument(help: "What to time: render, encoder, kernels, mask, step, prepare, server (server is left out unless named); or `quality [PHOTOS…]` for the drawing-quality benchmark.")
    var components: [String] = ["render", "encoder", "kernels", "mask", "step", "prepare"]

    @Option(help: "quality: output folder for the table, the JSON record and the contact sheet.")
    var out: String = "out/quality"

    @Option(help: "quality: fidelity steps per part (the sketch default).")
    var iterations: Int = 200

    @Option(help: "quality: fidelity levels to draw, comma-separated (more than one cell: a matrix per photo).")
    var fidelities: String = "0"

    @Option(help: "quality: simplicity levels to draw, comma-separated and increasing (levels chain).")
    var simplicities: String = "0"

    @Option(help: "quality: compare this raw encoder block instead of the fidelity level's blocks.")
    var depth: Int?

    @Option(help: "Threads for the timed work (default: all cores).")
    var threads: Int = ComputeThreads.defaultCount()

    @Option(help: "Encoder for the encoder component: efficientnet-lite0 or clip-vit-b32 (full size, random weights).")
    var encoder: String = EncoderKind.default.rawValue

    @Flag(help: "Also time PyTorch on the same encoder work in this run (scripts/bench; needs python3 with torch), weights frozen and trainable.")
    var pytorch = false

    @Option(help: "Rounds of the encoder comparison, alternating ours and PyTorch (with --pytorch).")
    var rounds: Int = 1

    func run() throws {
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
            do { try a.validate() } catch let e as AbstractionError { throw ValidationError(e.description) }
            func levels(_ text: String, _ option: String) throws -> [Int] {
                let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                    throw ValidationError("--\(option) takes comma-separated levels, e.g. 0,1,2,3; got '\(text)'")
                }
                return values.compactMap { $0 }
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

    func benchRender(roof: Roofline) {
        report("\nrender (differentiable rasteriser; random-walk strokes as the engine initialises them)")
        report("strokes  canvas   threads  forward ms  backward ms  total ms")
        for (n, size) in [(64, 224), (64, 448), (256, 224), (256, 448)] {
            var gen = SeededRandom(UInt64(n * 1000 + size))
            let strokes: [Stroke] = (0..<n).map { _ in
                var p = SIMD2<Float>(gen.uniform() * Float(size), gen.uniform() * Float(size))
                var pts = [p]
                let step = Float(size) * 0.05
                for _ in 0..<3 { p += SIMD2(gen.uniform() - 0.5, gen.uniform() - 0.5) * step * 2; pts.append(p) }
                return Stroke(points: pts, halfWidth: 1.5 * Float(size) / 224)
            }
            let dImage = (0..<(size * size)).map { _ in gen.uniform() - 0.5 }
            for t in Set([1, threads]).sorted() {
                ComputeThreads.set(t)
                var raster = Raster.render(strokes, width: size, height: size)
                let fwd = bestTime(repeats: 20) { raster = Raster.render(strokes, width: size, height: size) }
                let bwd = bestTime(repeats: 20) { _ = raster.backward(dImage) }
                report(String(format: "%7d  %4d²  %8d  %10.2f  %11.2f  %8.2f", n, size, t, fwd * 1e3, bwd * 1e3, (fwd + bwd) * 1e3))
            }
        }
        ComputeThreads.set(threads)
    }
}

extension Bench {
    /// One optimisation step's encoder work: 1 clean + 4 augmented sketch copies forward and
    /// backward to the input, 4 augmented target copies forward (the clean target is cached).
    func benchEncoder(roof: Roofline) throws {
        let store = try CheckpointStore.locate()
        let net = try EfficientNetLite0(path: try store.verifiedPath(of: EncoderKind.efficientNetLite0.checkpointName))
        benchEncoderStep(net, title: "EfficientNet-Lite0", depths: [("shallow", 1, 0.24), ("mid", 3, 0.31), ("deep", 6, 0.37)],
                         flopsPerImage: { EfficientNetLite0.flops(height: 224, width: 224, through: $0) }, roof: roof,
                         pytorchScript: "efficientnet_step_pytorch.py")
    }

    /// The same step's work through a full-size ViT-B/32 (random weights in the official
    /// layout: the real file is not needed to time it).
    func benchCLIP(roof: Roofline) {
        let tower = CLIPVisual(randomWidth: 768, heads: 12, layers: 12, patch: 32, grid: 7, seed: 3)
        benchEncoderStep(tower, title: "CLIP ViT-B/32 (random weights)", depths: [("shallow", 2, 0.47), ("mid", 8, 1.28), ("deep", 11, 1.90)],
                         flopsPerImage: { tower.flops(through: $0) }, roof: roof, pytorchScript: "clip_step_pytorch.py")
    }

    func benchEncoderStep(_ encoder: any PerceptualEncoder, title: String, depths: [(String, Int, Double)],
                          flopsPerImage: (Int) -> Double, roof: Roofline, pytorchScript: String) {
        ComputeThreads.set(threads)
        report("\nencoder: \(title), 224², one step = 5 sketch fwd+bwd + 4 target fwd, \(threads) threads")
        var gen = SeededRandom(7)
        let sketches = FeatureMap(channels: 3, batch: 5, height: 224, width: 224,
                                  data: (0..<(3 * 5 * 224 * 224)).map { _ in gen.uniform() * 2 - 1 })
        let targets = FeatureMap(channels: 3, batch: 4, height: 224, width: 224,
                                 data: (0..<(3 * 4 * 224 * 224)).map { _ in gen.uniform() * 2 - 1 })
        func ours(_ block: Int) -> Double {
            bestTime(repeats: 5) {
                let pass = encoder.encode(sketches, through: block, keepTrace: true)
                _ = encoder.encode(targets, through: block, keepTrace: false)
                var g = pass.features(at: block)
                for i in g.data.indices { g.data[i] *= 0.001 }
                _ = encoder.inputGradient(pass, gradients: [block: g])
            }
        }
        guard pytorch else {
            report("depth          block  s/step   GFLOP/step  roofline s  ratio  (PyTorch, same machine, spec: s/step)")
            for (name, block, torch) in depths {
                let seconds = ours(block)
                let flops = flopsPerImage(block) * (5 * 2 + 4)
                let ideal = roof.seconds(forFlops: flops)
                report(String(format: "%-13@  %5d  %6.3f  %10.2f  %10.4f  %5.2f  (%.2f)", name as NSString, block, seconds,
                             flops / 1e9, ideal, seconds / ideal, torch))
            }
            return
        }
        // Alternating rounds: this machine's speed drifts by tens of percent over minutes, so
        // only figures from the same round compare.
        report("PyTorch runs \(pytorchScript) in a child process, best of 5 per figure as ours; 'trainable' is the")
        report("reference code's set-up (weights keep requires_grad, so autograd also computes weight gradients).")
        report("round  block   ours s  PyTorch frozen s  ours/frozen  PyTorch trainable s  ours/trainable")
        for round in 1...max(1, rounds) {
            let mine = depths.map { ours($0.1) }
            let frozen: [Int: Double], trainable: [Int: Double]
            do {
                frozen = try runPyTorchBench(pytorchScript, trainable: false)
                trainable = try runPyTorchBench(pytorchScript, trainable: true)
            } catch {
                report("PyTorch comparison skipped: \(error)")
                return
            }
            for ((_, block, _), seconds) in zip(depths, mine) {
                func cell(_ t: Double?, _ width: Int) -> String {
                    guard let t else { return "n/a".padding(toLength: width, withPad: " ", startingAt: 0) }
                    return String(format: "%6.3f", t).padding(toLength: width, withPad: " ", startingAt: 0)
                }
                func ratio(_ t: Double?) -> String { t.map { String(format: "%5.2f", seconds / $0) } ?? "  n/a" }
                report(String(format: "%5d  %5d  %7.3f  ", round, block, seconds) + cell(frozen[block], 16) + "  "
                       + ratio(frozen[block]) + "        " + cell(trainable[block], 19) + "  " + ratio(trainable[block]))
            }
        }
    }

    /// Runs one of scripts/bench's PyTorch timers and reads its "block N: S s/step" lines.
    func runPyTorchBench(_ script: String, trainable: Bool) throws -> [Int: Double] {
        guard let path = benchScript(script) else {
            throw UserFacingError(description: "scripts/bench/\(script) not found (run from the project directory)")
        }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = ["python3", path, String(threads)] + (trainable ? ["--trainable"] : [])
        let output = Pipe(), errors = Pipe()
        child.standardOutput = output
        child.standardError = errors
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        guard child.terminationStatus == 0 else {
            let last = problems.split(separator: "\n").last.map(String.init) ?? "exit status \(child.terminationStatus)"
            throw UserFacingError(description: "python3 \(script) failed: \(last)"
                                  + (problems.contains("No module named") ? " (pip install torch, and the packages the script names)" : ""))
        }
        var times: [Int: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("block ") {
            let fields = line.dropFirst(6).split(separator: " ")
            if fields.count >= 2, let block = Int(fields[0].dropLast()), let seconds = Double(fields[1]) { times[block] = seconds }
        }
        return times
    }

    /// scripts/bench/NAME beside the working directory or above the executable.
    func benchScript(_ name: String) -> String? {
        var candidates = [FileManager.default.currentDirectoryPath]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.path)
            dir.deleteLastPathComponent()
        }
        return candidates.map { $0 + "/scripts/bench/" + name }.first { FileManager.default.fileExists(atPath: $0) }
    }
}

extension Bench {
    /// Whole optimisation steps of the bull's two parts (the subject under GradNorm, the
    /// background plain), with the time of each phase: where a step goes besides the encoder.
    func benchStep() throws {
        let photo = try loadPhoto("examples/bull.jpg")
        let (encoder, masker) = try loadModels()
        let mask = try MaskSource.auto.mask(for: photo, masker: masker)
        let scene = SceneSketch(photo: photo, subjectMask: mask, encoder: encoder, abstraction: Abstraction())
        ComputeThreads.set(threads)
        let steps = 10
        report("\nsketch step: bull, \(scene.canvasWidth)×\(scene.canvasHeight) canvas, 64 strokes, \(threads) threads, "
               + "mean of \(steps) steps after 2 (the encoder's own ratio to the roofline: `bench encoder`)")
        report("part         s/step  " + StepTimings.phases.map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined())
        for (name, part) in zip(scene.foreground == nil ? ["background"] : ["subject", "background"], scene.parts) {
            part.step(count: 2)
            let before = part.timings
            let t0 = DispatchTime.now().uptimeNanoseconds
            part.step(count: steps)
            let perStep = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(steps)
            let cells = StepTimings.phases.map { phase -> String in
                let ms = ((part.timings.seconds[phase] ?? 0) - (before.seconds[phase] ?? 0)) / Double(steps) * 1e3
                return String(format: "%5.1f ms %3.0f%%", ms, ms / 1e3 / perStep * 100).padding(toLength: 14, withPad: " ", startingAt: 0)
            }
            report(name.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "  %6.3f  ", perStep) + cells.joined())
        }
    }
}

extension Bench {
    /// What a sketch does before its first step, beyond the subject mask: the targets (tone
    /// balance, outline, inpainting), saliency, first strokes and the target's features, on a
    /// light photo (the bull) and a dark one (the rocket, whose tones are lifted); then the
    /// tone balance and the outline alone at the canvas size. No multiply-heavy kernel dominates, so times are
    /// given against one step of the same scene rather than the roofline.
    func benchPrepare() throws {
        let (encoder, masker) = try loadModels()
        ComputeThreads.set(threads)
        report("\nscene preparation: targets, saliency, first strokes, target features (after the mask), \(threads) threads, best of 3")
        report("photo        prepare s   one step s   prepare/step   tone balance ms   outline ms")
        let darkPhoto = ["../shared/data/rocket.jpg", "Tests/Fixtures/rocket.jpg"].first { FileManager.default.fileExists(atPath: $0) }
        for path in ["examples/bull.jpg"] + [darkPhoto].compactMap({ $0 }) {
            let photo = try loadPhoto(path)
            let mask = try MaskSource.auto.mask(for: photo, masker: masker)
            var scene: SceneSketch?
            let prepare = bestTime(repeats: 3) { scene = SceneSketch(photo: photo, subjectMask: mask, encoder: encoder, abstraction: Abstraction()) }
            guard let scene else { continue }
            let step = bestTime(repeats: 3) { scene.background.step() }
            let canvas = photo.resized(width: scene.canvasWidth, height: scene.canvasHeight).clamped()
            let tones = bestTime(repeats: 3) { _ = ToneBalance().apply(canvas) }
            let outline = bestTime(repeats: 3) { _ = TargetPreparation().outlined(canvas, mask: scene.subject) }
            let name = URL(fileURLWithPath: path).lastPathComponent.padding(toLength: 11, withPad: " ", startingAt: 0)
            report(name + String(format: "  %9.3f   %10.3f   %12.1f   %15.1f   %10.1f", prepare, step, prepare / step,
                                 tones * 1e3, outline * 1e3))
        }
    }
}

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
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["serve", "--state-dir", state]
        let input = Pipe(), output = Pipe()
        child.standardInput = input
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        var buffered = Data()
        var nextID = 1
        func call(_ method: String, _ params: String) throws {
            let id = nextID
            nextID += 1
            input.fileHandleForWriting.write(Data("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"\(method)\",\"params\":\(params)}\n".utf8))
            while true {
                if let nl = buffered.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffered[buffered.startIndex..<nl], as: UTF8.self)
                    buffered.removeSubrange(buffered.startIndex...nl)
                    if line.contains("\"id\":\(id),") || line.hasSuffix("\"id\":\(id)}") {
                        if line.contains("\"error\"") { throw UserFacingError(description: "server: \(line)") }
                        return
                    }
                    continue
                }
                let more = output.fileHandleForReading.availableData
                if more.isEmpty { throw UserFacingError(description: "the server exited during \(method)") }
                buffered.append(more)
            }
        }
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
        try call("shutdown", "null")
        input.fileHandleForWriting.write(Data("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}\n".utf8))
        child.waitUntilExit()
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

extension Bench {
    /// The encoder's 1×1-convolution products, single-threaded: our register-blocked kernel
    /// against OpenBLAS on the same shapes, alternating, best of several.
    func benchKernels(roof: Roofline) {
        ComputeThreads.set(1)
        defer { ComputeThreads.set(threads) }
        report("\n1×1-conv products, 1 thread (M×K weights times K×N activations; N = 3 images × H·W)")
        report("  M     K       N    ours GF/s  OpenBLAS GF/s  ours/OpenBLAS  ours vs roofline")
        var gen = SeededRandom(11)
        for (m, k, plane) in [(96, 16, 112 * 112), (24, 96, 56 * 56), (144, 24, 56 * 56), (40, 144, 28 * 28),
                              (480, 80, 14 * 14), (112, 480, 14 * 14), (1152, 192, 7 * 7)] {
            let n = 3 * plane
            let a = (0..<(m * k)).map { _ in gen.uniform() - 0.5 }, b = (0..<(k * n)).map { _ in gen.uniform() - 0.5 }
            var c = [Float](repeating: 0, count: m * n)
            let flops = 2.0 * Double(m * n * k)
            var ours = Double.infinity, blas = Double.infinity
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                for _ in 0..<3 {
                    ours = min(ours, bestTime(repeats: 5) {
                        thinProduct(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                    })
                    blas = min(blas, bestTime(repeats: 5) {
                        sgemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                    })
                }
            } } }
            report(String(format: "%4d  %4d  %6d  %11.1f  %13.1f  %13.2f  %16.2f", m, k, n, flops / ours / 1e9, flops / blas / 1e9,
                          blas / ours, (flops / ours / 1e9) / roof.gflops))
        }
    }

    /// The subject mask of a 500×500 photo (U²-Net-p, docs/algorithm.md §1): resize, network, threshold, resize back.
    func benchMask(roof: Roofline) throws {
        let store = try CheckpointStore.locate()
        let masker = try SubjectMasker(path: try store.verifiedPath(of: "u2netp"))
        ComputeThreads.set(threads)
        var gen = SeededRandom(5)
        let photo = RGBImage(width: 500, height: 500, pixels: (0..<(3 * 500 * 500)).map { _ in gen.uniform() })
        var failure: Error?
        var flops = 0.0
        func time() -> Double {
            bestTime(repeats: 3) {
                flops = 0
                do { _ = try masker.saliency(photo, convolutionFlops: &flops).thresholded(0.5) } catch { failure = error }
            }
        }
        // The direct form first (the shifted product), then Winograd (the default), in one run.
        let wasEnabled = WinogradSetting.enabled
        WinogradSetting.enabled = false
        let direct = time()
        WinogradSetting.enabled = true
        let seconds = time()
        WinogradSetting.enabled = wasEnabled
        if let failure { throw failure }
        report("\nsubject mask: U²-Net-p, 500² photo → 320² network input, \(threads) threads (target ≤ 0.5 s)")
        report("3×3 convolutions   s/mask  conv GFLOP (direct form)  roofline s  ratio")
        for (name, s) in [("direct", direct), ("Winograd F(4,3)", seconds)] {
            report(name.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "  %6.3f  %24.2f  %10.3f  %5.2f", s, flops / 1e9,
                          roof.seconds(forFlops: flops), s / roof.seconds(forFlops: flops)))
        }
        report("(Winograd needs ~1/4 of the direct form's multiplies on the layers it runs, so its ratio may be < 1)")
    }
}

