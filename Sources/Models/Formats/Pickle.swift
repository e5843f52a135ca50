import Foundation
import Tensors

/// A value produced by the pickle interpreter. Lists and dicts are reference types because
/// pickles fill them after they have been memoised.
public indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    /// `callable(*args)` we have no special meaning for, plus any BUILD state.
    case object(callable: PickleValue, args: [PickleValue], state: PickleValue?)
    case persistent(PickleValue)
    case tensor(TensorReference)
    case mark

    /// A short description for error messages: two levels deep and four items wide at most, so
    /// a pickle that shares a tuple with itself level after level (2ⁿ items) cannot make it huge.
    public var description: String { describe(depth: 0) }

    private func describe(depth: Int) -> String {
        func items(_ values: [PickleValue]) -> String {
            guard depth < 2 else { return "…\(values.count) items" }
            return values.prefix(4).map { $0.describe(depth: depth + 1) }.joined(separator: ", ") + (values.count > 4 ? ", …" : "")
        }
        switch self {
        case .none: return "None"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .float(let f): return "\(f)"
        case .string(let s): return "'\(s.prefix(80))'"
        case .bytes(let b): return "bytes(\(b.count))"
        case .tuple(let t): return "(\(items(t)))"
        case .list(let l): return "[\(l.items.count) items]"
        case .dict(let d): return "{\(d.items.count) items}"
        case .global(let m, let n): return "\(m.prefix(80)).\(n.prefix(80))"
        case .object(let c, _, _): return depth < 2 ? "<\(c.describe(depth: depth + 1))>" : "<…>"
        case .persistent(let p): return depth < 2 ? "persistent\(p.describe(depth: depth + 1))" : "persistent(…)"
        case .tensor(let t): return "tensor\(t.shape.prefix(8))"
        case .mark: return "MARK"
        }
    }

    var intValue: Int? { if case .int(let i) = self { return i }; return nil }
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    var tupleValue: [PickleValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

public final class PickleList { public var items: [PickleValue] = [] }

/// Every list and dict one load made. A pickle can build a container that holds itself (a
/// reference cycle that counting never frees); emptying them all when the load is done frees
/// the memory whatever the file did.
///
/// It also counts the entries put into them. BUILD merges a dict into another (into itself: the
/// size doubles for two bytes of file) and APPENDS/ADDITEMS copy a memoised tuple as often as
/// the file asks, so a few kilobytes could fill gigabytes; past `entryBudget` the load stops.
final class PickleArena {
    private var lists: [PickleList] = []
    private var dicts: [PickleDict] = []
    private(set) var entries = 0

    /// A checkpoint holds about one entry per module attribute: thousands for CLIP ViT-B/32,
    /// a few hundred for the test fixture. A load that needs four million is not a checkpoint.
    static let entryBudget = 1 << 22

    /// Accounts for `count` more entries, before they are added.
    func admit(_ count: Int) throws {
        entries += count
        guard entries <= Self.entryBudget else {
            throw PickleError("the pickle builds more than \(Self.entryBudget) list and dict entries: not a checkpoint")
        }
    }

    func list() -> PickleList {
        let l = PickleList()
        lists.append(l)
        return l
    }

    func dict() -> PickleDict {
        let d = PickleDict()
        dicts.append(d)
        return d
    }

    /// Breaks every cycle; the values read must have been used by now.
    func release() {
        for l in lists { l.items = [] }
        for d in dicts { d.items = [] }
        lists = []
        dicts = []
    }
}
public final class PickleDict {
    /// Insertion-ordered (state dicts are OrderedDicts).
    public var items: [(key: PickleValue, value: PickleValue)] = []
    func set(_ k: PickleValue, _ v: PickleValue) { items.append((k, v)) }
}

/// Element types of PyTorch storages we read.
public enum StorageType: String, Sendable {
    case float32 = "FloatStorage", float16 = "HalfStorage", float64 = "DoubleStorage"
    case int64 = "LongStorage", int32 = "IntStorage", uint8 = "ByteStorage", bool = "BoolStorage", bfloat16 = "BFloat16Storage"

    var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .float64, .int64: return 8
        case .uint8, .bool: return 1
        }
    }
}

/// Where a tensor's numbers live: a storage key plus a strided view into it.
public struct TensorReference: Sendable {
    public var storageKey: String
    public var storageType: StorageType
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]
}

public struct PickleError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// A pickle interpreter for the opcodes PyTorch checkpoints and TorchScript `data.pkl` use.
/// It never imports or runs anything: globals become names, and the few callables that
/// matter (tensor rebuilding, OrderedDict) are interpreted; everything else stays inert.
struct PickleReader {
    let bytes: [UInt8]
    var pos: Int
    /// Maps a persistent id (the tuple PyTorch pickles) to a storage description.
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]

    let arena: PickleArena

    init(_ bytes: [UInt8], at pos: Int = 0, arena: PickleArena = PickleArena()) {
        self.bytes = bytes
        self.pos = pos
        self.arena = arena
    }

    mutating func u8() throws -> UInt8 {
        guard pos < bytes.count else { throw PickleError("pickle ends early at byte \(pos)") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard CheckedSize.fits(offset: pos, length: n, in: bytes.count) else {
            throw PickleError("pickle ends early at byte \(pos) (needs \(n) more)")
        }
        defer { pos += n }
        return bytes[pos..<pos + n]
    }

    mutating func le(_ n: Int) throws -> Int {
        let b = try take(n)
        var v = 0
        for (i, x) in b.enumerated() { v |= Int(x) << (8 * i) }
        return v
    }

    mutating func line() throws -> String {
        guard pos < bytes.count, let end = bytes[pos...].firstIndex(of: 0x0A) else { throw PickleError("unterminated text line at byte \(pos)") }
        defer { pos = end + 1 }
        return String(decoding: bytes[pos..<end], as: UTF8.self)
    }

    mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw PickleError("pickle stack underflow at byte \(pos)") }
        return v
    }

    mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw PickleError("pickle MARK missing at byte \(pos)") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    /// Runs until STOP and returns the top of the stack.
    mutating func load() throws -> PickleValue {
        while true {
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()                                   // PROTO
            case 0x95: _ = try take(8)                                // FRAME
            case 0x2E: return try pop()                               // STOP
            case 0x28: marks.append(stack.count)                      // MARK
            case 0x4E: stack.append(.none)                            // NONE
            case 0x88: stack.append(.bool(true))                      // NEWTRUE
            case 0x89: stack.append(.bool(false))                     // NEWFALSE
            case 0x4A:                                                // BININT
                let v = try le(4)
                stack.append(.int(Int(Int32(truncatingIfNeeded: v))))
            case 0x4B: stack.append(.int(Int(try u8())))              // BININT1
            case 0x4D: stack.append(.int(try le(2)))                  // BININT2
            case 0x8A:                                                // LONG1
                let n = Int(try u8())
                let b = try take(n)
                // Wider than 64 bits (torch.save's magic number): keep the little-endian bytes.
                if n > 8 { stack.append(.bytes(Array(b))); continue }
                var v: Int = 0
                for (i, x) in b.enumerated() { v |= Int(x) << (8 * i) }
                if n > 0 && n < 8 && (b.last ?? 0) & 0x80 != 0 { v -= 1 << (8 * n) }
                stack.append(.int(v))
            case 0x49:                                                // INT (text)
                let s = try line()
                if s == "00" { stack.append(.bool(false)) } else if s == "01" { stack.append(.bool(true)) } else {
                    guard let v = Int(s) else { throw PickleError("bad INT '\(s)'") }
                    stack.append(.int(v))
                }
            case 0x47:                                                // BINFLOAT (big-endian)
                let b = try take(8)
                var bits: UInt64 = 0
                for x in b { bits = bits << 8 | UInt64(x) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: let n = try le(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE
            case 0x8C: let n = Int(try u8()); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINUNICODE
            case 0x8D: let n = try le(8); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE8
            case 0x54: let n = try le(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // BINSTRING
            case 0x55: let n = Int(try u8()); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x42: let n = try le(4); stack.append(.bytes(Array(try take(n))))   // BINBYTES
            case 0x43: let n = Int(try u8()); stack.append(.bytes(Array(try take(n))))  // SHORT_BINBYTES
            case 0x29: stack.append(.tuple([]))                       // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popMark()))            // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))              // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x5D: stack.append(.list(arena.list()))              // EMPTY_LIST
            case 0x6C:                                                // LIST
                let items = try popMark()
                try arena.admit(items.count)
                let l = arena.list()
                l.items = items
                stack.append(.list(l))
            case 0x7D: stack.append(.dict(arena.dict()))              // EMPTY_DICT
            case 0x64:                                                // DICT
                let items = try popMark()
                let d = arena.dict()
                guard items.count % 2 == 0 else { throw PickleError("DICT with an odd number of items") }
                try arena.admit(items.count / 2)
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                stack.append(.dict(d))
            case 0x8F: stack.append(.list(arena.list()))              // EMPTY_SET (as a list)
            case 0x90:                                                // ADDITEMS
                let items = try popMark()
                if case .list(let l) = stack.last {
                    try arena.admit(items.count)
                    l.items += items
                }
            case 0x61:                                                // APPEND
                let v = try pop()
                guard case .list(let l) = stack.last else { throw PickleError("APPEND to a non-list") }
                try arena.admit(1)
                l.items.append(v)
            case 0x65:                                                // APPENDS
                let items = try popMark()
                guard case .list(let l) = stack.last else { throw PickleError("APPENDS to a non-list") }
                try arena.admit(items.count)
                l.items += items
            case 0x73:                                                // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = stack.last else { throw PickleError("SETITEM on a non-dict") }
                try arena.admit(1)
                d.set(k, v)
            case 0x75:                                                // SETITEMS
                let items = try popMark()
                guard case .dict(let d) = stack.last, items.count % 2 == 0 else { throw PickleError("bad SETITEMS") }
                try arena.admit(items.count / 2)
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x71: memo[Int(try u8())] = stack.last               // BINPUT
            case 0x72: memo[try le(4)] = stack.last                   // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                  // MEMOIZE
            case 0x70: let s = try line(); if let i = Int(s) { memo[i] = stack.last }  // PUT
            case 0x68: try get(Int(try u8()))                         // BINGET
            case 0x6A: try get(try le(4))                             // LONG_BINGET
            case 0x67: let s = try line(); try get(Int(s) ?? -1)      // GET
            case 0x63:                                                // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93:                                                // STACK_GLOBAL
                let name = try pop(), module = try pop()
                stack.append(.global(module: module.stringValue ?? "?", name: name.stringValue ?? "?"))
            case 0x51: stack.append(.persistent(try pop()))           // BINPERSID
            case 0x52:                                                // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args.tupleValue ?? []))
            case 0x81:                                                // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(.object(callable: cls, args: args.tupleValue ?? [], state: nil))
            case 0x62:                                                // BUILD
                let state = try pop()
                let obj = try pop()
                switch obj {
                case .object(let c, let a, _): stack.append(.object(callable: c, args: a, state: state))
                case .dict(let d):
                    if case .dict(let s) = state {
                        try arena.admit(s.items.count)
                        d.items += s.items
                    }
                    stack.append(obj)
                default: stack.append(obj)  // e.g. tensors: BUILD carries only hooks
                }
            case 0x30: _ = try pop()                                  // POP
            case 0x31: _ = try popMark()                              // POP_MARK
            case 0x32: guard let top = stack.last else { throw PickleError("DUP on empty stack") }; stack.append(top)
            default:
                throw PickleError(String(format: "unsupported pickle opcode 0x%02x at byte %d", op, pos - 1))
            }
        }
    }

    mutating func get(_ i: Int) throws {
        guard let v = memo[i] else { throw PickleError("pickle memo \(i) is missing") }
        stack.append(v)
    }

    func reduce(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let module, let name) = callable else {
            return .object(callable: callable, args: args, state: nil)
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            let d = arena.dict()
            if let items = args.first?.tupleValue {
                try arena.admit(items.count)
                for item in items { if let kv = item.tupleValue, kv.count == 2 { d.set(kv[0], kv[1]) } }
            }
            return .dict(d)
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            // (storage, offset, size, stride, ...)
            guard args.count >= 4, case .persistent(let pid) = args[0], let p = pid.tupleValue, p.count >= 3,
                  let offset = args[1].intValue, let size = args[2].tupleValue, let stride = args[3].tupleValue
            else { throw PickleError("unexpected tensor layout in _rebuild_tensor_v2") }
            guard case .global(_, let typeName) = p[1], let type = StorageType(rawValue: typeName) else {
                throw PickleError("unsupported storage type \(p[1])")
            }
            let key: String
            switch p[2] {
            case .string(let s): key = s
            case .int(let i): key = String(i)
            default: throw PickleError("bad storage key \(p[2])")
            }
            return .tensor(TensorReference(storageKey: key, storageType: type, offset: offset,
                                           shape: size.compactMap(\.intValue), strides: stride.compactMap(\.intValue)))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            return args.first ?? .none
        default:
            return .object(callable: callable, args: args, state: nil)
        }
    }
}
