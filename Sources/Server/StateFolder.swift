import Foundation
import JSONRPC
import Imaging
import Models

/// Where the server keeps each document's automatic snapshot, so a crash loses little:
/// `<folder>/<first 16 hex digits of SHA-256(uri)>.clpsnap`, written to a temporary name and
/// renamed into place, beside a small `.json` that records the uri, step and time.
final class StateFolder: @unchecked Sendable {
    let path: String
    /// `--no-snapshots`: nothing is written automatically (saveSession still writes).
    let enabled: Bool
    private let writer = DispatchQueue(label: "clipascene.snapshots")
    /// The newest snapshot waiting for the writer, per uri (older ones are dropped unwritten).
    private let pending = Locked<[String: (Data, Int)]>([:])
    /// Why the latest automatic snapshot failed (nil once one succeeds again).
    let lastError = Locked<String?>(nil)
    /// Told when snapshots start failing, when the reason changes, and when they work again
    /// (nil), so the client hears about it instead of only stderr.
    var onHealthChange: @Sendable (String?) -> Void = { _ in }

    init(path: String, enabled: Bool = true) {
        self.path = path
        self.enabled = enabled
    }

    /// The retention rule, applied at start-up: partial snapshot files whose writer is gone go
    /// first, then snapshots older than `maxAge` seconds, then the oldest until the folder
    /// holds at most `maxBytes`. Only our own files are touched (`*.clpsnap`, the `.json`
    /// beside each, their temporaries). Returns how many files were removed.
    @discardableResult
    func prune(maxAge: Double, maxBytes: Int, now: Date = Date()) -> Int {
        let fm = FileManager.default
        // Partial snapshots a killed or vanished server left behind go first, whatever the rule.
        var removed = 0
        for leftover in AtomicFile.abandonedTemporaries(in: path) where (try? fm.removeItem(atPath: leftover)) != nil { removed += 1 }
        guard let names = try? fm.contentsOfDirectory(atPath: path) else { return removed }
        var snapshots: [(name: String, date: Date, bytes: Int)] = []
        for name in names where name.hasSuffix(".clpsnap") {
            guard let a = try? fm.attributesOfItem(atPath: "\(path)/\(name)"), let date = a[.modificationDate] as? Date else { continue }
            snapshots.append((name, date, (a[.size] as? NSNumber)?.intValue ?? 0))
        }
        snapshots.sort { $0.date > $1.date }  // newest first
        var kept = 0
        for s in snapshots {
            // A running server's snapshots are its own to keep or drop, whatever the rule.
            if ownedByAnotherLiveServer(sidecar: Self.sidecar(of: "\(path)/\(s.name)")) { continue }
            let tooOld = now.timeIntervalSince(s.date) > maxAge
            if tooOld || kept + s.bytes > maxBytes {
                try? fm.removeItem(atPath: "\(path)/\(s.name)")
                try? fm.removeItem(atPath: Self.sidecar(of: "\(path)/\(s.name)"))
                removed += 1
            } else {
                kept += s.bytes
            }
        }
        return removed
    }

    /// The `.json` beside a snapshot (`NAME.clpsnap` → `NAME.json`): its uri, step, size and
    /// writer's pid. Only the suffix changes (the folder's own name may hold anything).
    static func sidecar(of snapshot: String) -> String { String(snapshot.dropLast(".clpsnap".count)) + ".json" }

    /// Whether the snapshot beside `sidecar` was last written by another server that is still
    /// running (its process id, recorded in the sidecar, is alive and not ours). Two servers
    /// may share a state folder; neither deletes what the other is keeping for a crash.
    func ownedByAnotherLiveServer(sidecar: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: sidecar), let info = try? JSON.parse(Array(data)),
              case .int(let pid)? = info["pid"], pid > 0, pid <= Int(Int32.max), pid != Int(getpid()) else { return false }
        return kill(Int32(pid), 0) == 0 || errno == EPERM
    }

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
        guard enabled else { return }
        let first = pending.withLock { p -> Bool in
            let wasEmpty = p[uri] == nil
            p[uri] = (data, step)
            return wasEmpty
        }
        guard first else { return }
        writer.async { [self] in
            guard let (data, step) = pending.withLock({ $0.removeValue(forKey: uri) }) else { return }
            do {
                try write(data, uri: uri, step: step)
                report(nil)
            } catch {
                let message = "the automatic snapshot of \(uri.debugDescription) could not be written: \(error)"
                FileHandle.standardError.write(Data("clipascene serve: \(message)\n".utf8))
                report(message)
            }
        }
    }

    /// Records the snapshots' health and tells the client when it changed.
    private func report(_ error: String?) {
        let changed = lastError.withLock { last -> Bool in
            defer { last = error }
            return last != error
        }
        if changed { onHealthChange(error) }
    }

    /// Blocks until every queued snapshot is on disk.
    func flush() { writer.sync {} }

    func write(_ data: Data, uri: String, step: Int) throws {
        let target = snapshotPath(for: uri)
        try AtomicFile.write(data, to: target, createFolders: true)
        let info: JSON = ["uri": .string(uri), "step": .int(step), "bytes": .int(data.count),
                          "savedAt": .string(ISO8601DateFormatter().string(from: Date())), "pid": .int(Int(getpid()))]
        try AtomicFile.write(Data(info.serialized), to: Self.sidecar(of: target))
    }

    /// Deletes the uri's snapshot, and any not yet written, before returning: a snapshot saved
    /// afterwards (the document reopened) is never deleted by this.
    func remove(uri: String) {
        let target = snapshotPath(for: uri)
        _ = pending.withLock { $0.removeValue(forKey: uri) }
        writer.sync {
            // Another server on this folder wrote it last and still runs: it is that server's.
            if ownedByAnotherLiveServer(sidecar: Self.sidecar(of: target)) { return }
            try? FileManager.default.removeItem(atPath: target)
            try? FileManager.default.removeItem(atPath: Self.sidecar(of: target))
        }
    }
}
