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
    /// "/", "." or "..", and not an existing folder (or a link to one).
    public static func validate(_ path: String) throws {
        guard !path.isEmpty else { throw FileWriteError(path, "the path is empty") }
        guard !path.utf8.contains(0) else { throw FileWriteError(path, "the path contains a NUL byte") }
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard !path.hasSuffix("/"), last != ".", last != ".." else {
            throw FileWriteError(path, "the path names a folder, not a file; add a file name")
        }
        guard last.utf8.count <= 255 - 24 else { throw FileWriteError(path, "the file name is too long") }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            throw FileWriteError(path, "it is a folder (or a link to one); give a file name inside it")
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
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
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
