import Foundation

/// Why a file could not be written, in words a user can act on.
public struct FileWriteError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path.debugDescription): \(reason)" }

    init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The reason for an errno, with the usual causes named.
    static func reason(errno e: Int32) -> String {
        switch e {
        case ENOSPC: return "no space left on the device"
        case EDQUOT: return "the disk quota is exhausted"
        case EROFS: return "the file system is read-only"
        case EACCES, EPERM: return "permission denied (is the folder writable?)"
        case ENOTDIR: return "a part of the path is a file, not a folder"
        case ENAMETOOLONG: return "the name is too long for the file system"
        default: return String(cString: strerror(e))
        }
    }
}

/// Whole-file writes that a reader (or a crash) never sees half done: the bytes go to a
/// temporary file in the same folder, are flushed, and then renamed over the target. The
/// path is checked before anything is created, and the temporary file never outlives a failure.
public enum AtomicFile {
    /// Throws unless `path` can name a regular file: not empty, no NUL byte, not ending in
    /// "/", "." or "..", and, if something is there already, a regular file (or a link to
    /// one): never a folder, a device, a pipe or a socket.
    public static func validate(_ path: String) throws {
        guard !path.isEmpty else { throw FileWriteError(path, "the path is empty") }
        guard !path.utf8.contains(0) else { throw FileWriteError(path, "the path contains a NUL byte") }
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard !path.hasSuffix("/"), last != ".", last != ".." else {
            throw FileWriteError(path, "the path names a folder, not a file; add a file name")
        }
        guard last.utf8.count <= 255 - 24 else { throw FileWriteError(path, "the file name is too long") }
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: throw FileWriteError(path, "it is a folder (or a link to one); give a file name inside it")
            default:
                // Renaming over it would replace the device, pipe or socket with a plain file.
                throw FileWriteError(path, "it is \(kindOfFile(info.st_mode)), not a regular file; it is left alone")
            }
        }
    }

    /// Makes `path` a folder to write into, before any work: refuses an existing file, device,
    /// pipe or socket by name, creates the folder (and its parents) if missing, and checks
    /// each of `files` inside it could be written.
    public static func prepareFolder(_ path: String, files: [String] = []) throws {
        guard !path.isEmpty else { throw FileWriteError(path, "the folder name is empty") }
        guard !path.utf8.contains(0) else { throw FileWriteError(path, "the path contains a NUL byte") }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw FileWriteError(path, "it is \(kindOfFile(info.st_mode)), not a folder; give a folder to write into (it is created if missing)")
            }
        } else {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                let e = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
                throw FileWriteError(path, "the folder cannot be created (\(e.map { FileWriteError.reason(errno: Int32($0.code)) } ?? "a part of the path is not a folder"))")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else { throw FileWriteError(path, FileWriteError.reason(errno: errno)) }
        for file in files { try validate(path + "/" + file) }
    }

    /// Temporary files are named `.NAME.tmp-PID-RANDOM`, by the writing process's id.
    static let temporaryMark = ".tmp-"

    /// The temporary files in `folder` whose writer is gone (killed mid-write, or exited before
    /// a queued write finished): their process no longer exists. A live process's are left.
    public static func abandonedTemporaries(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { name in
            guard name.hasPrefix("."), let mark = name.range(of: temporaryMark, options: .backwards) else { return false }
            guard let pid = Int32(name[mark.upperBound...].prefix { $0 != "-" }), pid > 0 else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }.map { folder + "/" + $0 }
    }

    /// What a file system entry is, in words ("a character device", …) from its `st_mode`.
    static func kindOfFile(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a folder"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    /// Writes `data` to `path` atomically; `createFolders` makes missing parent folders first
    /// (after the path has been checked).
    public static func write(_ data: Data, to path: String, createFolders: Bool = false) throws {
        try validate(path)
        let folder = (path as NSString).deletingLastPathComponent
        if createFolders && !folder.isEmpty {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                let e = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
                throw FileWriteError(path, "its folder cannot be created (\(e.map { FileWriteError.reason(errno: Int32($0.code)) } ?? error.localizedDescription))")
            }
        }
        let name = (path as NSString).lastPathComponent
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\(name)\(temporaryMark)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path, FileWriteError.reason(errno: errno)) }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = Glibc.write(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw FileWriteError(path, FileWriteError.reason(errno: failure))
        }
    }
}
