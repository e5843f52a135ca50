import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which of OpenBLAS's per-CPU kernel sets computes our products.
///
/// OpenBLAS is built with every x86-64 kernel set and picks one for the CPU when it loads:
/// SkylakeX or Cooperlake (AVX-512) on recent Intel and on AMD Zen 4, Zen on older AMD,
/// Haswell on older Intel. Each set rounds differently, and the optimisation is chaotic, so
/// the same seed drew a different sketch on each kind of CPU. Every engine process therefore
/// runs on one set, `portable`: AVX2 and FMA, which every CPU the release build runs on has
/// (it is compiled for `-target-cpu haswell`). The same instructions on the same values give
/// the same bits on any CPU, so the drawing is the same bytes on Intel and AMD alike.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, while the library loads, before any code of ours
/// runs; so the executable sets it and replaces itself with a fresh image of itself
/// (`pinForReproducibility`). A user who sets the variable keeps their choice: the drawing is
/// then reproducible on that kernel set only (docs/determinism.md).
public enum BLASKernels {
    /// The kernel set every engine process uses unless `OPENBLAS_CORETYPE` is set.
    public static let portable = "Haswell"

    /// The environment variable OpenBLAS reads when it loads.
    public static let variable = "OPENBLAS_CORETYPE"

    /// The kernel set in use, as OpenBLAS names it ("Haswell", "SkylakeX", …).
    public static var current: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Runs first in the executable. When `OPENBLAS_CORETYPE` is unset and the loaded set is
    /// not already `portable`, sets the variable and re-executes this program with the same
    /// arguments (same process id, same open files: a server's pipes stay connected). Returns
    /// what to tell the user if the re-execution failed: the run then carries on with the
    /// library's own choice.
    public static func pinForReproducibility() -> String? {
        guard getenvString(variable) == nil else { return nil }
        setenv(variable, portable, 1)
        guard current != portable else { return nil }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        return "could not restart on OpenBLAS's \(portable) kernels (\(reason)); drawing with \(current), "
            + "so a seed's drawing matches only machines of this kind"
    }
}
