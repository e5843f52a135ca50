import Foundation
import XCTest
import Imaging
import TestSupport

/// Every file the engine writes goes through `AtomicFile`; nothing that is not a regular file
/// is ever replaced (issue 24, item 7: saveSession renamed its temporary file over a FIFO, a
/// socket, and as root over /dev/null).
final class AtomicFileTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: scratch) }

    func testSpecialFilesAreNeverReplaced() throws {
        let special = makeSpecialFiles(in: scratch)
        XCTAssertGreaterThanOrEqual(special.count, 2, "a FIFO and a socket at least: \(special)")
        for (path, kind) in special {
            let before = fileKind(path)
            XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: path), path) { error in
                XCTAssertTrue("\(error)".contains(kind), "\(kind): \(error)")
            }
            XCTAssertEqual(fileKind(path), before, "\(kind) still what it was")
            // A link to one is refused the same way.
            let link = path + "-link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: link), link)
            XCTAssertEqual(fileKind(link), S_IFLNK)
        }
        // Nothing left behind: no temporary files.
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: scratch).contains { $0.contains(".tmp-") })
        // A regular file is still replaced.
        let plain = scratch + "/plain.txt"
        try AtomicFile.write(Data("a".utf8), to: plain)
        try AtomicFile.write(Data("b".utf8), to: plain)
        XCTAssertEqual(FileManager.default.contents(atPath: plain), Data("b".utf8))
    }

    /// An output folder is checked and made before any work: a file, a pipe or a socket where
    /// the folder should be is named; a missing folder (and its parents) is created; a special
    /// file among the files to be written is refused.
    func testOutputFoldersAreCheckedBeforeAnyWork() throws {
        let file = scratch + "/file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        XCTAssertThrowsError(try AtomicFile.prepareFolder(file)) { XCTAssertTrue("\($0)".contains("a regular file, not a folder"), "\($0)") }
        XCTAssertThrowsError(try AtomicFile.prepareFolder(file + "/sub")) { XCTAssertTrue("\($0)".contains("not a folder"), "\($0)") }
        for (path, kind) in makeSpecialFiles(in: scratch) {
            XCTAssertThrowsError(try AtomicFile.prepareFolder(path)) { XCTAssertTrue("\($0)".contains(kind), "\($0)") }
        }
        let made = scratch + "/a/b/c"
        try AtomicFile.prepareFolder(made, files: ["x.svg"])
        var isFolder: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: made, isDirectory: &isFolder) && isFolder.boolValue)
        XCTAssertEqual(mkfifo(made + "/x.svg", 0o644), 0)
        XCTAssertThrowsError(try AtomicFile.prepareFolder(made, files: ["y.svg", "x.svg"])) {
            XCTAssertTrue("\($0)".contains("named pipe"), "\($0)")
        }
        XCTAssertThrowsError(try AtomicFile.prepareFolder(""))
    }
}
