import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

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
