import Foundation
import Models

/// Where the server keeps each document's automatic snapshot, so a crash loses little:
/// `<folder>/<first 16 hex digits of SHA-256(uri)>.clpsnap`, written to a temporary name and
/// renamed into place, beside a small `.json` that records the uri, step and time.
final class StateFolder: @unchecked Sendable {
    let path: String
    private let writer = DispatchQueue(label: "clipascene.snapshots")
    /// The newest snapshot waiting for the writer, per uri (older ones are dropped unwritten).
    private let pending = Locked<[String: (Data, Int)]>([:])

    init(path: String) { self.path = path }

    /// `$CLIPASCENE_STATE_DIR`, else `$XDG_STATE_HOME/clipascene`, else `~/.local/state/clipascene`.
    static func defaultPath() -> String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["CLIPASCENE_STATE_DIR"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/clipascene" }
        return (env["HOME"] ?? NSTemporaryDirectory()) + "/.local/state/clipascene"
    }

    func snapshotPath(for uri: String) -> String {
        "\(path)/\(SHA256.hex(Data(uri.utf8)).prefix(16)).clpsnap"
    }

    /// Queues `data` to be written for `uri`; returns at once.
    func save(_ data: Data, uri: String, step: Int) {
        let first = pending.withLock { p -> Bool in
            let wasEmpty = p[uri] == nil
            p[uri] = (data, step)
            return wasEmpty
        }
        guard first else { return }
        writer.async { [self] in
            guard let (data, step) = pending.withLock({ $0.removeValue(forKey: uri) }) else { return }
            do { try write(data, uri: uri, step: step) } catch {
                FileHandle.standardError.write(Data("clipascene serve: could not write the snapshot of \(uri): \(error)\n".utf8))
            }
        }
    }

    /// Blocks until every queued snapshot is on disk.
    func flush() { writer.sync {} }

    func write(_ data: Data, uri: String, step: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let target = snapshotPath(for: uri)
        try Self.writeAtomically(data, to: target)
        let info: JSON = ["uri": .string(uri), "step": .int(step), "bytes": .int(data.count),
                          "savedAt": .string(ISO8601DateFormatter().string(from: Date()))]
        try Self.writeAtomically(Data(info.serialized), to: target.replacingOccurrences(of: ".clpsnap", with: ".json"))
    }

    func remove(uri: String) {
        let target = snapshotPath(for: uri)
        writer.async {
            try? FileManager.default.removeItem(atPath: target)
            try? FileManager.default.removeItem(atPath: target.replacingOccurrences(of: ".clpsnap", with: ".json"))
        }
    }

    /// Writes beside the target, then renames over it: a reader sees the old file or the new one.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw RPCError.failed("could not write \(temporary) (is the folder writable?)")
        }
        guard rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw RPCError.failed("could not move the snapshot into \(path): \(why)")
        }
    }
}
