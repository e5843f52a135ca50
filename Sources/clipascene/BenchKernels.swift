import ArgumentParser
import Foundation
import Imaging
import Sketching
import Tensors
import Vector
import Models

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
}
