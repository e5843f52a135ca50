import Foundation
import XCTest
import Models
import Tensors

/// What every test target shares: where the repository and its fixtures are, the default
/// encoder loaded once, deterministic values, the built executable, and how a test says
/// that something `make test` sets up is missing.

/// The repository's root folder.
public let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A file under Tests/Fixtures.
public func fixture(_ name: String) -> URL { repoRoot.appendingPathComponent("Tests/Fixtures/\(name)") }

/// True when the tests run under CI (`CI` set, as .ci/run does).
public var runningUnderCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" } ?? false }

/// A set-up that `make test` does is missing: skipped on a developer's machine, a failure
/// under CI (where a skip would hide that the set-up broke).
public struct MissingSetUp: Error, CustomStringConvertible {
    public let description: String
}

public func missing(_ what: String) -> Error {
    let text = "\(what) (make test sets it up)"
    return runningUnderCI ? MissingSetUp(description: text) : XCTSkip(text)
}

/// The default encoder, loaded once for all tests of a process (loading takes a moment).
public let sharedEncoder: EfficientNetLite0? = try? EfficientNetLite0(path: weightsPath("efficientnet-lite0/efficientnet-lite0-57934424.pth"))

/// A fetched weight file under checkpoint/.
public func weightsPath(_ name: String) -> String { repoRoot.appendingPathComponent("checkpoint/\(name)").path }

/// The default encoder, or the missing set-up.
public func requireEncoder() throws -> EfficientNetLite0 {
    guard let e = sharedEncoder else { throw missing("the EfficientNet-Lite0 weights are missing: run checkpoint/fetch") }
    return e
}

extension SeededRandom {
    /// A value in [−0.5, 0.5): test data.
    public mutating func centred() -> Float { uniform(-0.5, 0.5) }
    public mutating func centred(_ count: Int) -> [Float] { values(count, -0.5, 0.5) }
}

/// The built executable the CLI and server tests run: $CLIPASCENE_BIN, else this test
/// build's configuration's. It fails when the binary is older than any source file, so a
/// test never passes or fails on a stale build.
public func clipasceneBinary() throws -> String { try locatedBinary.get() }

/// Found and checked once per test process (the CLI tests run the binary hundreds of times).
private let locatedBinary = Result { try locateBinary() }

private func locateBinary() throws -> String {
    if let env = ProcessInfo.processInfo.environment["CLIPASCENE_BIN"] { return env }
    #if DEBUG
    let configuration = "debug"
    #else
    let configuration = "release"
    #endif
    let path = repoRoot.appendingPathComponent(".build/\(configuration)/clipascene").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw MissingSetUp(description: "\(path) is not built: swift build -c \(configuration)")
    }
    let built = modificationDate(path) ?? .distantPast
    if let newer = newestSource(), newer.date > built {
        throw MissingSetUp(description: "\(path) is older than \(newer.path): rebuild (swift build -c \(configuration))")
    }
    return path
}

func modificationDate(_ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
}

/// The most recently changed file under Sources/.
func newestSource() -> (path: String, date: Date)? {
    let sources = repoRoot.appendingPathComponent("Sources")
    guard let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.contentModificationDateKey]) else { return nil }
    var newest: (path: String, date: Date)?
    for case let url as URL in files {
        guard let date = try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate else { continue }
        if newest.map({ date > $0.date }) ?? true { newest = (url.path, date) }
    }
    return newest
}

/// The OpenBLAS kernel sets this CPU can execute, by the names `OPENBLAS_CORETYPE` takes:
/// Sandybridge (AVX) everywhere the release build runs, Haswell and Zen (AVX2 and FMA) too,
/// SkylakeX where AVX-512 is present and Cooperlake where AVX-512 BF16 is too.
public func runnableKernelSets() -> [String] {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let flagsLine = info.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    var sets = ["Sandybridge"]
    if flags.isSuperset(of: ["avx2", "fma"]) { sets += ["Haswell", "Zen"] }
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) {
        sets.append("SkylakeX")
        if flags.contains("avx512_bf16") { sets.append("Cooperlake") }
    }
    return sets
}

/// Files that are not regular files, made in `folder` (a scratch folder of the test's, never
/// the machine's own devices): a named pipe, a unix socket and, where the test may create
/// device nodes (root), a character device with /dev/null's numbers. Each with the words
/// the engine uses for it.
public func makeSpecialFiles(in folder: String) -> [(path: String, kind: String)] {
    var made: [(String, String)] = []
    let fifo = folder + "/fifo"
    if mkfifo(fifo, 0o644) == 0 { made.append((fifo, "named pipe")) }
    let socketPath = folder + "/socket"
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    if fd >= 0 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        if bytes.count < MemoryLayout.size(ofValue: address.sun_path) {
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
                raw[bytes.count] = 0
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if bound == 0 { made.append((socketPath, "socket")) }
        }
        close(fd)
    }
    let device = folder + "/device"
    if mknod(device, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 {   // makedev(1, 3)
        made.append((device, "character device")) }
    return made
}

/// The kind of what is at `path` (`st_mode & S_IFMT`), without following a final link.
public func fileKind(_ path: String) -> mode_t {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
}
