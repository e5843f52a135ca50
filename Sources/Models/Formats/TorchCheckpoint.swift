import Foundation
import Tensors

/// Reads PyTorch weight files into named float32 tensors: the legacy `torch.save` stream,
/// the zip format (`torch.save` since 1.6), and TorchScript archives (whose `data.pkl`
/// pickles the module tree). fp16/bf16/fp64/int storages are converted to float32.
public struct TorchCheckpoint {
    public let path: String
    /// Parameter and buffer names (dotted, as in a state dict) → values.
    public private(set) var tensors: [String: Tensor] = [:]
    /// Names in file order.
    public private(set) var names: [String] = []

    public subscript(name: String) -> Tensor? { tensors[name] }

    /// The tensor called `name`, with the shape expected, or an error naming the file.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        guard let t = tensors[name] else {
            throw PickleError("\(path): no tensor named '\(name)' (the file has \(names.count), e.g. \(names.prefix(3).joined(separator: ", ")))")
        }
        if let shape, t.shape != shape {
            throw PickleError("\(path): '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }

    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw PickleError("\(path): cannot read (\(error.localizedDescription))")
        }
        try self.init(bytes: [UInt8](data), name: path)
    }

    /// Reads a checkpoint from memory; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws {
        let path = name
        self.path = name
        do {
            if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
                try loadZip(bytes)
            } else if bytes.first == 0x80 {
                try loadLegacy(bytes)
            } else {
                throw PickleError("not a PyTorch file (neither a zip archive nor a pickle stream)")
            }
        } catch let e as PickleError {
            throw PickleError(e.description.hasPrefix(path) ? e.description : "\(path): \(e.description)")
        }
    }

    // MARK: Legacy stream: magic, protocol, sys info, the object, storage keys, raw storages.

    private mutating func loadLegacy(_ bytes: [UInt8]) throws {
        let arena = PickleArena()
        defer { arena.release() }
        var reader = PickleReader(bytes, arena: arena)
        // The magic number 0x1950a86a20f9469cfc6c is wider than 64 bits: it arrives as raw bytes.
        guard case .bytes(let magic) = try reader.load(),
              magic == [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19] else {
            throw PickleError("missing the torch.save magic number")
        }
        _ = try reader.load()  // protocol version
        _ = try reader.load()  // sys info
        var main = PickleReader(bytes, at: reader.pos, arena: arena)
        let root = try main.load()
        var keysReader = PickleReader(bytes, at: main.pos, arena: arena)
        guard let keys = try keysReader.load().tupleValue?.compactMap({ $0.stringValue }) else {
            throw PickleError("missing the list of storage keys")
        }
        var pos = keysReader.pos
        var storages: [String: ArraySlice<UInt8>] = [:]
        var refs: [TensorReference] = []
        collect(root, prefix: "", into: &refs, names: &names)
        let typeOf = Dictionary(refs.map { ($0.storageKey, $0.storageType) }, uniquingKeysWith: { a, _ in a })
        for key in keys {
            guard CheckedSize.fits(offset: pos, length: 8, in: bytes.count) else { throw PickleError("file ends inside storage \(key) (truncated?)") }
            var count = 0
            for i in 0..<8 { count |= Int(bytes[pos + i]) << (8 * i) }
            pos += 8
            guard let size = CheckedSize.product(count, typeOf[key]?.byteSize ?? 4),
                  CheckedSize.fits(offset: pos, length: size, in: bytes.count) else {
                throw PickleError("file ends inside storage \(key) (truncated?)")
            }
            storages[key] = bytes[pos..<pos + size]
            pos += size
        }
        try materialise(refs, storages: storages)
    }

    // MARK: Zip format and TorchScript archives.

    private mutating func loadZip(_ bytes: [UInt8]) throws {
        let zip = try ZipArchive(bytes)
        guard let pkl = zip.entries.keys.first(where: { $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }) else {
            throw PickleError("zip archive without data.pkl")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        let arena = PickleArena()
        defer { arena.release() }
        var reader = PickleReader(Array(try zip.data(pkl)), arena: arena)
        let root = try reader.load()
        var refs: [TensorReference] = []
        collect(root, prefix: "", into: &refs, names: &names)
        var storages: [String: ArraySlice<UInt8>] = [:]
        for key in Set(refs.map(\.storageKey)) {
            guard let entry = zip.entries["\(prefix)data/\(key)"] != nil ? "\(prefix)data/\(key)" : nil else {
                throw PickleError("storage \(key) is missing from the archive")
            }
            storages[key] = try zip.data(entry)
        }
        try materialise(refs, storages: storages)
    }

    /// Walks a state dict or a pickled module tree, naming every tensor by its attribute path.
    /// Each dict is walked once (a pickle can share one dict many times over, or make one hold
    /// itself), and depth is bounded.
    private func collect(_ v: PickleValue, prefix: String, into refs: inout [TensorReference], names: inout [String]) {
        var seen = Set<ObjectIdentifier>()
        func walk(_ v: PickleValue, _ prefix: String, _ depth: Int) {
            guard depth < 64 else { return }
            switch v {
            case .tensor(let t):
                refs.append(t)
                names.append(String(prefix.dropLast()))
            case .dict(let d):
                guard seen.insert(ObjectIdentifier(d)).inserted else { return }
                for (k, value) in d.items {
                    guard let key = k.stringValue else { continue }
                    walk(value, prefix + key + ".", depth + 1)
                }
            case .object(_, _, let state?):
                walk(state, prefix, depth + 1)
            default:
                break
            }
        }
        walk(v, prefix, 0)
    }

    /// The largest tensor read, in elements (CLIP's largest weight has 38.6 M).
    static let maximumTensorElements = 1 << 30

    /// Every view is read into its own dense tensor, so the file's storages bound the total: a
    /// tied weight is read twice, but a thousand names on one storage are not a checkpoint.
    private mutating func materialise(_ refs: [TensorReference], storages: [String: ArraySlice<UInt8>]) throws {
        let stored = storages.values.reduce(0) { $0 + $1.count }
        var budget = 2 * stored + (1 << 20)
        for (ref, name) in zip(refs, names) {
            guard let raw = storages[ref.storageKey] else { throw PickleError("storage \(ref.storageKey) for '\(name)' is missing") }
            let bytes = (CheckedSize.product(ref.shape, limit: Self.maximumTensorElements) ?? 0) * ref.storageType.byteSize
            budget -= bytes
            guard budget >= 0 else {
                throw PickleError("its tensors would hold more than twice the \(stored) bytes stored (many names on the same numbers): not a checkpoint")
            }
            tensors[name] = try Self.decode(ref, raw)
        }
    }

    /// Reads a strided view of a storage into a dense float32 tensor.
    static func decode(_ ref: TensorReference, _ raw: ArraySlice<UInt8>) throws -> Tensor {
        guard ref.shape.count == ref.strides.count, ref.shape.count <= 8,
              let count = CheckedSize.product(ref.shape, limit: maximumTensorElements) else {
            throw PickleError("tensor view has shape \(ref.shape) and strides \(ref.strides): not a readable tensor")
        }
        let elem = ref.storageType.byteSize
        let available = raw.count / elem
        // Largest element index the view touches (strides are never negative in PyTorch).
        var maxIndex: Int? = ref.offset
        for (n, s) in zip(ref.shape, ref.strides) where n > 0 {
            maxIndex = maxIndex.flatMap { m in CheckedSize.product(n - 1, s).flatMap { CheckedSize.sum(m, $0) } }
        }
        guard count == 0 || (ref.offset >= 0 && (maxIndex.map { $0 < available } ?? false)) else {
            throw PickleError("tensor view (offset \(ref.offset), shape \(ref.shape)) runs past its storage of \(available) elements")
        }
        // A view with stride 0 reads one number many times: a file of a few bytes could ask for
        // 2³⁰ of them. Weights are never saved expanded, so a view holds at most its storage.
        guard count <= available else {
            throw PickleError("tensor view of shape \(ref.shape) holds \(count) numbers but its storage only \(available): not a weight")
        }
        var out = [Float](repeating: 0, count: count)
        raw.withUnsafeBytes { buf in
            func value(_ i: Int) -> Float {
                let o = i * elem
                switch ref.storageType {
                case .float32: return buf.loadUnaligned(fromByteOffset: o, as: Float.self)
                case .float16: return Float(Float16(bitPattern: buf.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                case .bfloat16: return Float(bitPattern: UInt32(buf.loadUnaligned(fromByteOffset: o, as: UInt16.self)) << 16)
                case .float64: return Float(buf.loadUnaligned(fromByteOffset: o, as: Double.self))
                case .int64: return Float(buf.loadUnaligned(fromByteOffset: o, as: Int64.self))
                case .int32: return Float(buf.loadUnaligned(fromByteOffset: o, as: Int32.self))
                case .uint8, .bool: return Float(buf.load(fromByteOffset: o, as: UInt8.self))
                }
            }
            let rank = ref.shape.count
            var index = [Int](repeating: 0, count: rank)
            for i in 0..<count {
                var src = ref.offset
                for d in 0..<rank { src += index[d] * ref.strides[d] }
                out[i] = value(src)
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < ref.shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return Tensor(shape: ref.shape, data: out)
    }
}

/// A minimal reader of zip archives with stored (uncompressed) entries, which is how
/// PyTorch writes them.
struct ZipArchive {
    let bytes: [UInt8]
    /// Name → (offset of data, size, compression method).
    var entries: [String: (offset: Int, size: Int, method: Int)] = [:]

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        let n = bytes.count
        /// A little-endian field, or an error when it would read past the end.
        func le(_ at: Int, _ width: Int) throws -> Int {
            guard CheckedSize.fits(offset: at, length: width, in: n) else { throw PickleError("damaged zip archive (a field lies past the end)") }
            var v = 0
            for i in 0..<width { v |= Int(bytes[at + i]) << (8 * i) }
            return v
        }
        /// An offset or size read from the file, which must lie within it.
        func position(_ v: Int, _ what: String) throws -> Int {
            guard v >= 0 && v <= n else { throw PickleError("damaged zip archive (\(what) \(v) is outside the file of \(n) bytes)") }
            return v
        }
        // End of central directory: the last PK\5\6 within the final 64 KiB + 22 bytes.
        let floor = max(0, n - 65_557)
        guard n >= 22,
              let eocd = stride(from: n - 22, through: floor, by: -1).first(where: {
                  bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 5 && bytes[$0 + 3] == 6 })
        else { throw PickleError("damaged zip archive (no end-of-directory record)") }
        var count = try le(eocd + 10, 2)
        var dirOffset = try le(eocd + 16, 4)
        // ZIP64: the real numbers sit in the zip64 end record that a locator points at.
        if (count == 0xFFFF || dirOffset == 0xFFFF_FFFF), eocd >= 20,
           try le(eocd - 20, 4) == 0x0706_4B50 {
            let rec = try position(try le(eocd - 20 + 8, 8), "the zip64 record's offset")
            guard try le(rec, 4) == 0x0606_4B50 else { throw PickleError("damaged zip64 record") }
            count = try le(rec + 32, 8)
            dirOffset = try le(rec + 48, 8)
        }
        // Each directory entry takes at least 46 bytes: a larger count is a lie.
        guard count >= 0 && count <= n / 46 else { throw PickleError("damaged zip central directory (\(count) entries claimed)") }
        var p = try position(dirOffset, "the directory's offset")
        for _ in 0..<count {
            guard try le(p, 4) == 0x0201_4B50 else { throw PickleError("damaged zip central directory") }
            let method = try le(p + 10, 2)
            var size = try le(p + 20, 4)
            let nameLen = try le(p + 28, 2), extraLen = try le(p + 30, 2), commentLen = try le(p + 32, 2)
            var local = try le(p + 42, 4)
            guard CheckedSize.fits(offset: p + 46, length: nameLen + extraLen, in: n) else { throw PickleError("damaged zip central directory") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // Zip64 extra field (id 1) carries sizes/offsets that overflowed 32 bits, in order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = try le(e, 2), len = try le(e + 2, 2)
                if id == 1 {
                    var q = e + 4
                    if try le(p + 24, 4) == 0xFFFF_FFFF { q += 8 }  // uncompressed size
                    if size == 0xFFFF_FFFF, q + 8 <= e + 4 + len { size = try le(q, 8); q += 8 }
                    if local == 0xFFFF_FFFF, q + 8 <= e + 4 + len { local = try le(q, 8) }
                }
                e += 4 + len
            }
            local = try position(local, "entry \(name)'s offset")
            guard try le(local, 4) == 0x0403_4B50 else { throw PickleError("damaged zip entry \(name)") }
            let data = local + 30 + (try le(local + 26, 2)) + (try le(local + 28, 2))
            guard CheckedSize.fits(offset: data, length: size, in: n) else {
                throw PickleError("zip entry \(name) runs past the end (truncated file?)")
            }
            entries[name] = (data, size, method)
            p += 46 + nameLen + extraLen + commentLen
        }
    }

    func data(_ name: String) throws -> ArraySlice<UInt8> {
        guard let e = entries[name] else { throw PickleError("zip entry \(name) is missing") }
        guard e.method == 0 else { throw PickleError("zip entry \(name) is compressed (method \(e.method)); only stored entries are supported") }
        return bytes[e.offset..<(e.offset + e.size)]
    }
}
