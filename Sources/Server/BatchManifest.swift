import Foundation
import JSONRPC
import Models
import Sketching

struct ManifestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// One line of a batch manifest (`clipascene batch`, docs/batch/README.md), read with the same
/// names, types and ranges as the server's `setAbstraction`. A line that cannot run keeps a
/// `problem` and a safe `id`, so it becomes one failed item and the batch goes on.
public struct BatchItem: Sendable {
    public var id: String
    public var line: Int
    public var image: String = ""
    public var abstraction = Abstraction()
    public var mask = "auto", background = "auto"
    public var encoder = EncoderKind.default.rawValue
    public var matrix = false
    /// Why the line cannot run (bad JSON, a missing image field, bad options); reported as a failed item.
    public var problem: String?

    /// The longest id in UTF-8 bytes: with the temporary folder's prefix and suffix it stays
    /// under the 255-byte file-name limit of common file systems.
    public static let maximumIDBytes = 200

    public static func parse(manifest text: String, base: URL) -> [BatchItem] {
        var items: [BatchItem] = []
        var seen = Set<String>()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineText = raw.trimmingCharacters(in: .whitespaces)
            if lineText.isEmpty || lineText.hasPrefix("#") { continue }
            var item = BatchItem(id: "line-\(n + 1)", line: n + 1)
            // Say what is wrong with the line: a 100,000-deep array is not "not an object".
            let parsed: JSON
            do { parsed = try JSON.parse(lineText) } catch {
                item.problem = "line \(n + 1) is not valid JSON (\(error)); each line is one object such as {\"image\": \"photo.jpg\"}"
                items.append(item)
                continue
            }
            guard case .object(let object) = parsed else {
                item.problem = "line \(n + 1) is \(parsed.typeName), not a JSON object such as {\"image\": \"photo.jpg\"}"
                items.append(item)
                continue
            }
            item.configure(object, base: base)
            if seen.contains(item.id) {
                item.problem = item.problem ?? "id '\(item.id)' is used by an earlier line"
                item.id = "\(item.id)-line-\(n + 1)"
            }
            seen.insert(item.id)
            items.append(item)
        }
        return items
    }

    /// Reads one manifest line: the same names, types and ranges as the server's
    /// `setAbstraction` (AbstractionParameters), plus the batch's own fields.
    init(id: String, line: Int) {
        self.id = id
        self.line = line
    }

    mutating func configure(_ o: [String: JSON], base: URL) {
        let own: Set<String> = ["image", "id", "mask", "background", "matrix", "encoder"]
        func path(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).path }
        func string(_ key: String) throws -> String? {
            guard let v = o[key], v != .null else { return nil }
            guard case .string(let s) = v else { throw ManifestError("\"\(key)\" must be a string, got \(v.typeName)") }
            return s
        }
        do {
            guard let image = try string("image"), !image.isEmpty else { throw ManifestError("\"image\" (a path) is required") }
            self.image = path(image)
            if let rawID = try string("id") {
                guard !rawID.isEmpty else { throw ManifestError("\"id\" must not be empty") }
                id = rawID
            } else {
                id = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
            }
            // An id names a folder of --out: only safe characters, not hidden, not a summary's name, not too long.
            id = String(id.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
            guard !id.hasPrefix("."), !id.hasPrefix("summary-") else {
                throw ManifestError("id '\(id)' is reserved (ids may not start with '.' or 'summary-')")
            }
            guard id.utf8.count <= Self.maximumIDBytes else {
                throw ManifestError("id is \(id.utf8.count) bytes long; the limit is \(Self.maximumIDBytes)")
            }
            let known = own.union(AbstractionParameters.keys)
            if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
                throw ManifestError("unknown option '\(unknown)'")
            }
            if let m = try string("mask") { mask = m == "auto" || m == "none" ? m : path(m) }
            if let b = try string("background") { background = b == "auto" ? b : path(b) }
            if let e = try string("encoder") { encoder = e }
            switch o["matrix"] {
            case nil, .null?: matrix = false
            case .bool(let b)?: matrix = b
            case let v?: throw ManifestError("\"matrix\" must be true or false, got \(v.typeName)")
            }
            guard let profile = EncoderKind(rawValue: encoder).map(EncoderProfile.of) else {
                throw ManifestError("encoder must be one of: \(EncoderKind.namesList); got '\(encoder)'")
            }
            let settings = o.filter { AbstractionParameters.keys.contains($0.key) }
            do {
                abstraction = try AbstractionParameters.apply(settings, to: abstraction, depths: profile.depthRange)
            } catch let e as RPCError { throw ManifestError(e.message) }
        } catch {
            problem = "line \(line): \(error)"
            if id.hasPrefix(".") || id.hasPrefix("summary-") || id.utf8.count > Self.maximumIDBytes || id.isEmpty { id = "line-\(line)" }
        }
    }

    /// FNV-1a of the id: stable across runs, machines and manifest order.
    public static func shard(of id: String, count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(h % UInt64(count))
    }
}
