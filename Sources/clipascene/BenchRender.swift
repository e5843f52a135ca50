import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

extension Bench {
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
