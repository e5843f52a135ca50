import Foundation
import XCTest
import Models
import TestSupport

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data(repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testChunkedUpdatesMatchOneShot() {
        let data = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let whole = SHA256.hex(data)
        for step in [1, 3, 63, 64, 65, 200] {
            var h = SHA256()
            var i = 0
            while i < data.count { h.update(data[i..<min(data.count, i + step)]); i += step }
            XCTAssertEqual(h.finalizeHex(), whole, "chunk \(step)")
        }
    }
}

final class CheckpointTests: XCTestCase {
    func testManifestIsWellFormed() throws {
        let store = try CheckpointStore(directory: repoRoot.appendingPathComponent("checkpoint").path)
        let hex = CharacterSet(charactersIn: "0123456789abcdef")
        XCTAssertEqual(Set(store.manifest.models.map(\.name)), ["efficientnet-lite0", "u2netp", "u2net", "clip"])
        for e in store.manifest.models {
            XCTAssertEqual(e.sha256.count, 64, e.name)
            XCTAssertTrue(e.sha256.unicodeScalars.allSatisfy(hex.contains), e.name)
            XCTAssertFalse(e.license.isEmpty)
            if let w = e.wheelSHA256 {
                XCTAssertEqual(w.count, 64)
                XCTAssertNotNil(e.package)
                XCTAssertNotNil(e.version)
                XCTAssertNotNil(e.pathInWheel)
                XCTAssertNotNil(e.bytes)
            } else {
                XCTAssertNotNil(e.url, "\(e.name) has neither a wheel nor a URL")
            }
        }
        XCTAssertEqual(store.manifest.models.filter(\.default).map(\.name).sorted(), ["efficientnet-lite0", "u2netp"])
    }

    /// `make test` fetches the default set first, so these must be present and intact.
    func testDefaultWeightsAreFetchedAndVerified() throws {
        let store = try CheckpointStore(directory: repoRoot.appendingPathComponent("checkpoint").path)
        for e in store.manifest.models where e.default {
            XCTAssertEqual(store.status(of: e), .valid, "\(e.name): run checkpoint/fetch")
            XCTAssertNoThrow(try store.verifiedPath(of: e.name))
        }
    }

    func temporaryStore(content: Data, bytes: Int?) throws -> (CheckpointStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("toy"), withIntermediateDirectories: true)
        let entry: [String: Any?] = [
            "name": "toy", "role": "test", "file": "toy.bin", "bytes": bytes,
            "sha256": SHA256.hex(content), "license": "CC0", "default": true,
            "url": "https://example.invalid/toy.bin",
        ]
        let manifest = ["models": [entry.compactMapValues { $0 }]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: dir.appendingPathComponent("manifest.json"))
        return (try CheckpointStore(directory: dir.path), dir)
    }

    func testStatusDetectsMissingWrongSizeWrongHash() throws {
        let content = Data("weights".utf8)
        let (store, dir) = try temporaryStore(content: content, bytes: content.count)
        defer { try? FileManager.default.removeItem(at: dir) }
        let entry = try XCTUnwrap(store.manifest.entry(named: "toy"))
        let file = dir.appendingPathComponent("toy/toy.bin")
        XCTAssertEqual(store.status(of: entry), .missing)
        XCTAssertThrowsError(try store.verifiedPath(of: "toy")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing"), text)
            XCTAssertTrue(text.contains("https://example.invalid/toy.bin"), text)
            XCTAssertTrue(text.contains(entry.sha256), text)
        }
        try Data("weight".utf8).write(to: file)
        XCTAssertEqual(store.status(of: entry), .wrongSize)
        try Data("WEIGHTS".utf8).write(to: file)
        XCTAssertEqual(store.status(of: entry), .wrongHash)
        try content.write(to: file)
        XCTAssertEqual(store.status(of: entry), .valid)
        XCTAssertEqual(try store.verifiedPath(of: "toy"), file.path)
        XCTAssertThrowsError(try store.verifiedPath(of: "nothing")) { XCTAssertTrue("\($0)".contains("toy")) }
    }
}

/// Runs checkpoint/fetch against a wheelhouse the test builds, so the download,
/// both hash checks and the unpacking are exercised without a network.
final class FetchScriptTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("house"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// A minimal valid wheel holding `payload` at toypkg/weights.bin.
    func makeWheel() throws -> URL {
        let wheel = dir.appendingPathComponent("house/toypkg-1.0-py3-none-any.whl")
        let script = """
        import sys, zipfile
        with zipfile.ZipFile(sys.argv[1], "w") as z:
            z.writestr("toypkg/__init__.py", "")
            z.writestr("toypkg/weights.bin", b"pretend weights " * 100)
            z.writestr("toypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: toypkg\\nVersion: 1.0\\n")
            z.writestr("toypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
            z.writestr("toypkg-1.0.dist-info/RECORD", "")
        """
        let (status, text) = try run("python3", ["-c", script, wheel.path])
        XCTAssertEqual(status, 0, text)
        return wheel
    }

    func writeManifest(wheelSHA: String, fileSHA: String) throws -> URL {
        let manifest: [String: Any] = ["models": [[
            "name": "toy", "role": "test", "package": "toypkg", "version": "1.0",
            "wheel": "toypkg-1.0-py3-none-any.whl", "wheelSHA256": wheelSHA,
            "pathInWheel": "toypkg/weights.bin", "file": "weights.bin", "bytes": 1600,
            "sha256": fileSHA, "license": "CC0", "default": true,
        ]]]
        let url = dir.appendingPathComponent("ckpt/manifest.json")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        return url
    }

    func testFetchVerifiesAndSkipsAndRefusesMismatches() throws {
        let fetch = repoRoot.appendingPathComponent("checkpoint/fetch").path
        let wheel = try makeWheel()
        let wheelSHA = try SHA256.hex(fileAt: wheel.path)
        let fileSHA = SHA256.hex(Data(String(repeating: "pretend weights ", count: 100).utf8))
        let env = ["CLIPASCENE_WHEELHOUSE": dir.appendingPathComponent("house").path,
                   "CLIPASCENE_MANIFEST": try writeManifest(wheelSHA: wheelSHA, fileSHA: fileSHA).path]
        let target = dir.appendingPathComponent("ckpt/toy/weights.bin").path

        // --check reports the missing file and fails.
        var (status, text) = try run(fetch, ["--check"], env: env)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(text.contains("missing"), text)

        // A real fetch unpacks and verifies.
        (status, text) = try run(fetch, [], env: env)
        XCTAssertEqual(status, 0, text)
        XCTAssertEqual(try SHA256.hex(fileAt: target), fileSHA)
        (status, text) = try run(fetch, ["--check"], env: env)
        XCTAssertEqual(status, 0, text)

        // Present and valid: skipped silently.
        (status, text) = try run(fetch, [], env: env)
        XCTAssertEqual(status, 0)
        XCTAssertEqual(text, "")

        // A damaged file is fetched again.
        try Data("junk".utf8).write(to: URL(fileURLWithPath: target))
        (status, text) = try run(fetch, [], env: env)
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("fetching again"), text)
        XCTAssertEqual(try SHA256.hex(fileAt: target), fileSHA)

        // A wheel whose hash is not the pinned one is never unpacked.
        try FileManager.default.removeItem(atPath: target)
        var bad = env
        bad["CLIPASCENE_MANIFEST"] = try writeManifest(wheelSHA: String(repeating: "0", count: 64), fileSHA: fileSHA).path
        (status, text) = try run(fetch, [], env: bad)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(text.contains("wheel SHA-256 mismatch"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))

        // A file inside the wheel that does not match the manifest is refused too.
        bad["CLIPASCENE_MANIFEST"] = try writeManifest(wheelSHA: wheelSHA, fileSHA: String(repeating: "f", count: 64)).path
        (status, text) = try run(fetch, [], env: bad)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(text.contains("SHA-256 mismatch"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))

        // Unknown names and an unreachable source fail with a clear message.
        (status, text) = try run(fetch, ["nonsense"], env: env)
        XCTAssertEqual(status, 2)
        XCTAssertTrue(text.contains("unknown model"), text)
        var gone = env
        gone["CLIPASCENE_WHEELHOUSE"] = dir.appendingPathComponent("no-such-house").path
        (status, text) = try run(fetch, [], env: gone)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(text.contains("could not download"), text)
    }
}
