import Foundation
import Tensors

/// A reader of ONNX files (protobuf wire format, decoded by hand) and an interpreter for
/// the operators U²-Net uses: Conv, Relu, MaxPool, Resize, Concat, Add, Sigmoid, plus the
/// integer shape arithmetic PyTorch's exporter emits around Resize.
public struct ONNXError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// Protocol-buffer wire format: just enough to walk messages.
struct ProtoReader {
    let bytes: [UInt8]
    var pos: Int
    let end: Int

    init(_ bytes: [UInt8], _ range: Range<Int>? = nil) {
        self.bytes = bytes
        pos = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { pos >= end }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < end else { throw ONNXError("protobuf varint runs past the end") }
            let b = bytes[pos]; pos += 1
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw ONNXError("protobuf varint too long") }
        }
    }

    /// The next field: number, wire type, and for length-delimited fields the byte range.
    mutating func field() throws -> (number: Int, wire: Int, value: UInt64, range: Range<Int>) {
        let key = try varint()
        let number = Int(key >> 3), wire = Int(key & 7)
        switch wire {
        case 0: return (number, wire, try varint(), pos..<pos)
        case 1:
            guard end - pos >= 8 else { throw ONNXError("protobuf fixed64 runs past the end") }
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += 8
            return (number, wire, v, pos..<pos)
        case 2:
            guard let n = Int(exactly: try varint()), n <= end - pos else {
                throw ONNXError("protobuf field \(number) runs past the end (truncated file?)")
            }
            defer { pos += n }
            return (number, wire, 0, pos..<(pos + n))
        case 5:
            guard end - pos >= 4 else { throw ONNXError("protobuf fixed32 runs past the end") }
            var v: UInt64 = 0
            for i in 0..<4 { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += 4
            return (number, wire, v, pos..<pos)
        default:
            throw ONNXError("unsupported protobuf wire type \(wire) (not an ONNX file?)")
        }
    }

    func string(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
}

/// A value flowing through the graph: float feature maps or small int64 vectors.
public enum ONNXValue {
    case float(shape: [Int], data: [Float])
    case int64(shape: [Int], data: [Int])

    var shape: [Int] {
        switch self {
        case .float(let s, _), .int64(let s, _): return s
        }
    }
    var ints: [Int] {
        switch self {
        case .int64(_, let d): return d
        case .float(_, let d): return d.map { Int($0) }
        }
    }
}

public struct ONNXNode {
    public var op: String
    public var inputs: [String]
    public var outputs: [String]
    var ints: [String: [Int]] = [:]
    var floats: [String: [Float]] = [:]
    var strings: [String: String] = [:]
    var tensor: ONNXValue?
}

public final class ONNXModel {
    public let path: String
    public private(set) var nodes: [ONNXNode] = []
    public private(set) var initializers: [String: ONNXValue] = [:]
    public private(set) var inputNames: [String] = []
    public private(set) var outputNames: [String] = []
    /// Convolutions prepared once (weights are constant).
    private var convs: [Int: Conv2D] = [:]

    public convenience init(path: String) throws {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)) } catch {
            throw ONNXError("\(path): cannot read (\(error.localizedDescription))")
        }
        try self.init(bytes: bytes, name: path)
    }

    /// Reads a model from memory; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws {
        let path = name
        self.path = name
        do {
            try parse(bytes)
            try prepare()
        } catch let e as ONNXError {
            throw ONNXError("\(path): \(e.description)")
        }
    }

    private func parse(_ bytes: [UInt8]) throws {
        var model = ProtoReader(bytes)
        var graphRange: Range<Int>? = nil
        while !model.atEnd {
            let f = try model.field()
            if f.number == 7 && f.wire == 2 { graphRange = f.range }
        }
        guard let graphRange else { throw ONNXError("no graph in the model (not an ONNX file?)") }
        var graph = ProtoReader(bytes, graphRange)
        var declaredInputs: [String] = []
        while !graph.atEnd {
            let f = try graph.field()
            guard f.wire == 2 else { continue }
            switch f.number {
            case 1: nodes.append(try parseNode(bytes, f.range))
            case 5:
                let (name, value) = try parseTensor(bytes, f.range)
                initializers[name] = value
            case 11, 12:
                var vi = ProtoReader(bytes, f.range)
                while !vi.atEnd {
                    let g = try vi.field()
                    if g.number == 1 && g.wire == 2 {
                        if f.number == 11 { declaredInputs.append(vi.string(g.range)) } else { outputNames.append(vi.string(g.range)) }
                    }
                }
            default: break
            }
        }
        inputNames = declaredInputs.filter { initializers[$0] == nil }
        guard !nodes.isEmpty, !inputNames.isEmpty, !outputNames.isEmpty else { throw ONNXError("the graph is empty") }
    }

    private func parseNode(_ bytes: [UInt8], _ range: Range<Int>) throws -> ONNXNode {
        var r = ProtoReader(bytes, range)
        var node = ONNXNode(op: "", inputs: [], outputs: [])
        while !r.atEnd {
            let f = try r.field()
            switch (f.number, f.wire) {
            case (1, 2): node.inputs.append(r.string(f.range))
            case (2, 2): node.outputs.append(r.string(f.range))
            case (4, 2): node.op = r.string(f.range)
            case (5, 2): try parseAttribute(bytes, f.range, into: &node)
            default: break
            }
        }
        return node
    }

    private func parseAttribute(_ bytes: [UInt8], _ range: Range<Int>, into node: inout ONNXNode) throws {
        var r = ProtoReader(bytes, range)
        var name = ""
        var ints: [Int] = [], floats: [Float] = []
        var string: String? = nil
        var tensor: ONNXValue? = nil
        while !r.atEnd {
            let f = try r.field()
            switch (f.number, f.wire) {
            case (1, 2): name = r.string(f.range)
            case (2, 5): floats.append(Float(bitPattern: UInt32(f.value)))
            case (3, 0): ints.append(Int(Int64(bitPattern: f.value)))
            case (4, 2): string = r.string(f.range)
            case (5, 2): tensor = try parseTensor(bytes, f.range).1
            case (7, 5): floats.append(Float(bitPattern: UInt32(f.value)))
            case (7, 2):
                var p = f.range.lowerBound
                while p + 4 <= f.range.upperBound {
                    floats.append(Float(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24))
                    p += 4
                }
            case (8, 0): ints.append(Int(Int64(bitPattern: f.value)))
            case (8, 2):
                var p = ProtoReader(bytes, f.range)
                while !p.atEnd { ints.append(Int(Int64(bitPattern: try p.varint()))) }
            default: break
            }
        }
        if !ints.isEmpty { node.ints[name] = ints }
        if !floats.isEmpty { node.floats[name] = floats }
        if let string { node.strings[name] = string }
        if let tensor { node.tensor = tensor }
    }

    private func parseTensor(_ bytes: [UInt8], _ range: Range<Int>) throws -> (String, ONNXValue) {
        var r = ProtoReader(bytes, range)
        var dims: [Int] = [], type = 0, name = ""
        var raw: Range<Int>? = nil
        var floatData: [Float] = [], intData: [Int] = []
        while !r.atEnd {
            let f = try r.field()
            switch (f.number, f.wire) {
            case (1, 0): dims.append(Int(exactly: f.value) ?? -1)
            case (1, 2):
                var p = ProtoReader(bytes, f.range)
                while !p.atEnd { dims.append(Int(exactly: try p.varint()) ?? -1) }
            case (2, 0): type = Int(exactly: f.value) ?? -1
            case (4, 2):
                var p = f.range.lowerBound
                while p + 4 <= f.range.upperBound {
                    floatData.append(Float(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24))
                    p += 4
                }
            case (4, 5): floatData.append(Float(bitPattern: UInt32(f.value)))
            case (7, 2):
                var p = ProtoReader(bytes, f.range)
                while !p.atEnd { intData.append(Int(Int64(bitPattern: try p.varint()))) }
            case (7, 0): intData.append(Int(Int64(bitPattern: f.value)))
            case (8, 2): name = r.string(f.range)
            case (9, 2): raw = f.range
            default: break
            }
        }
        guard dims.count <= 8, let count = CheckedSize.product(dims, limit: Self.maximumTensorElements) else {
            throw ONNXError("tensor \(name) has dimensions \(dims): not a readable tensor")
        }
        switch type {
        case 1:  // float
            if let raw {
                guard raw.count == count * 4 else { throw ONNXError("tensor \(name): \(raw.count) bytes for \(count) floats") }
                var data = [Float](repeating: 0, count: count)
                bytes[raw].withUnsafeBytes { b in for i in 0..<count { data[i] = b.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) } }
                return (name, .float(shape: dims, data: data))
            }
            guard floatData.count == count else { throw ONNXError("tensor \(name): \(floatData.count) floats for shape \(dims)") }
            return (name, .float(shape: dims, data: floatData))
        case 6, 7:  // int32, int64
            if let raw {
                let size = type == 7 ? 8 : 4
                guard raw.count == count * size else { throw ONNXError("tensor \(name): \(raw.count) bytes for \(count) integers") }
                var data = [Int](repeating: 0, count: count)
                bytes[raw].withUnsafeBytes { b in
                    for i in 0..<count {
                        data[i] = size == 8 ? Int(b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                                            : Int(b.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    }
                }
                return (name, .int64(shape: dims, data: data))
            }
            return (name, .int64(shape: dims, data: intData))
        default:
            throw ONNXError("tensor \(name) has data type \(type); only float32 and integer tensors are supported")
        }
    }

    /// The largest tensor read, in elements (U²-Net's largest weight has 2.4 M).
    static let maximumTensorElements = 1 << 28

    private func prepare() throws {
        for (i, n) in nodes.enumerated() where n.op == "Conv" {
            guard n.inputs.count >= 2, case .float(let ws, let w)? = initializers[n.inputs[1]], ws.count == 4,
                  ws.allSatisfy({ $0 > 0 }) else {
                throw ONNXError("Conv node \(i) has no constant 4-D weight")
            }
            guard (n.ints["group"]?.first ?? 1) == 1 else { throw ONNXError("grouped convolutions are not supported") }
            var bias: [Float]? = nil
            if n.inputs.count >= 3, case .float(_, let b)? = initializers[n.inputs[2]] {
                guard b.count == ws[0] else { throw ONNXError("Conv node \(i): \(b.count) biases for \(ws[0]) outputs") }
                bias = b
            }
            let pads = n.ints["pads"] ?? [0, 0, 0, 0]
            let strides = n.ints["strides"] ?? [1, 1], dil = n.ints["dilations"] ?? [1, 1]
            guard ws[2] == ws[3], strides.count == 2, dil.count == 2, strides[0] == strides[1], dil[0] == dil[1], pads.count == 4,
                  (1...64).contains(strides[0]), (1...64).contains(dil[0]), pads.allSatisfy({ (0...1024).contains($0) }) else {
                throw ONNXError("Conv node \(i): only square kernels with equal strides and dilations are supported")
            }
            convs[i] = Conv2D(weight: w, bias: bias, inChannels: ws[1], outChannels: ws[0], kernel: ws[2],
                              stride: strides[0], dilation: dil[0],
                              padding: Padding(top: pads[0], left: pads[1], bottom: pads[2], right: pads[3]))
        }
    }

    /// Runs the graph on one input (NCHW, batch 1) and returns every declared output.
    public func run(_ input: ONNXValue) throws -> [ONNXValue] {
        var flops = 0.0
        return try run(input, convolutionFlops: &flops)
    }

    /// As `run`, also adding the multiply-adds ×2 of its convolutions to `convolutionFlops`.
    public func run(_ input: ONNXValue, convolutionFlops: inout Double) throws -> [ONNXValue] {
        var values = initializers
        values[inputNames[0]] = input
        // Each intermediate value is dropped after the last node that reads it: keeping them
        // all held U²-Net's ~600 MB of activations at once.
        var lastUse: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for name in n.inputs { lastUse[name] = i } }
        let kept = Set(outputNames).union(initializers.keys)
        // A Conv whose only reader is the next node, a Relu, runs with the ReLU fused in and
        // writes the Relu's output directly.
        var fusedRelu = Set<Int>()
        for (i, n) in nodes.enumerated() where n.op == "Conv" && i + 1 < nodes.count {
            let next = nodes[i + 1]
            if next.op == "Relu", n.outputs.count == 1, next.inputs == n.outputs, lastUse[n.outputs[0]] == i + 1,
               !kept.contains(n.outputs[0]) {
                fusedRelu.insert(i)
            }
        }
        for (i, n) in nodes.enumerated() {
            if i > 0 && fusedRelu.contains(i - 1) { continue }
            /// Input `k`'s floats, removed from `values` when this node is its last reader, so
            /// the caller holds the only reference and can update it in place.
            func takeFloats(_ k: Int) throws -> ([Int], [Float]) {
                guard k < n.inputs.count else { throw ONNXError("\(n.op) node \(i) is missing input \(k)") }
                let name = n.inputs[k]
                let sharedLater = lastUse[name] != i || kept.contains(name) || n.inputs.filter({ $0 == name }).count > 1
                guard let v = sharedLater ? values[name] : values.removeValue(forKey: name) else {
                    throw ONNXError("\(n.op) node \(i) is missing input \(k)")
                }
                guard case .float(let s, let d) = v else { throw ONNXError("\(n.op) node \(i): input \(k) is not float") }
                return (s, d)
            }
            func arg(_ k: Int) throws -> ONNXValue {
                guard k < n.inputs.count, let v = values[n.inputs[k]] else {
                    throw ONNXError("\(n.op) node \(i) is missing input \(k)")
                }
                return v
            }
            func floats(_ k: Int) throws -> ([Int], [Float]) {
                guard case .float(let s, let d) = try arg(k) else { throw ONNXError("\(n.op) node \(i): input \(k) is not float") }
                return (s, d)
            }
            let out: ONNXValue
            switch n.op {
            case "Constant":
                guard let t = n.tensor else { throw ONNXError("Constant node \(i) has no value") }
                out = t
            case "Conv":
                let (s, d) = try floats(0)
                guard s.count == 4, s[0] == 1, let conv = convs[i] else { throw ONNXError("Conv node \(i): expected a batch of one") }
                let y = conv.forward(FeatureMap(channels: s[1], batch: 1, height: s[2], width: s[3], data: d),
                                     relu: fusedRelu.contains(i))
                convolutionFlops += 2 * Double(y.count) * Double(conv.inChannels * conv.kernel * conv.kernel)
                out = .float(shape: [1, y.channels, y.height, y.width], data: y.data)
            case "Relu":
                var x = try takeFloats(0)
                for j in x.1.indices { x.1[j] = max(0, x.1[j]) }
                out = .float(shape: x.0, data: x.1)
            case "Sigmoid":
                var x = try takeFloats(0)
                for j in x.1.indices { x.1[j] = 1 / (1 + Foundation.exp(-x.1[j])) }
                out = .float(shape: x.0, data: x.1)
            case "Add":
                var x = try takeFloats(0)
                let (_, b) = try floats(1)
                guard x.1.count == b.count else { throw ONNXError("Add node \(i): broadcasting is not supported") }
                for j in x.1.indices { x.1[j] += b[j] }
                out = .float(shape: x.0, data: x.1)
            case "MaxPool": out = try maxPool(try floats(0), n)
            case "Resize": out = try resize(try floats(0), sizes: n.inputs.count > 3 ? try arg(3).ints : [], n)
            case "Concat":
                let axis = n.ints["axis"]?.first ?? 0
                let parts = try (0..<n.inputs.count).map { try arg($0) }
                if case .float = parts[0] {
                    guard axis == 1 else { throw ONNXError("Concat node \(i): float concat only along channels") }
                    var shape = parts[0].shape, data: [Float] = []
                    shape[1] = 0
                    for p in parts {
                        guard case .float(let s, let d) = p else { throw ONNXError("Concat node \(i): mixed types") }
                        shape[1] += s[1]; data += d  // batch 1: channel-major blocks simply follow each other
                    }
                    out = .float(shape: shape, data: data)
                } else {
                    let data = parts.flatMap(\.ints)
                    out = .int64(shape: [data.count], data: data)
                }
            case "Shape": out = .int64(shape: [try arg(0).shape.count], data: try arg(0).shape)
            case "Gather":
                let data = try arg(0).ints, idx = try arg(1)
                let picked = try idx.ints.map { k -> Int in
                    let j = k < 0 ? k + data.count : k
                    guard data.indices.contains(j) else { throw ONNXError("Gather node \(i): index \(k) out of range") }
                    return data[j]
                }
                out = .int64(shape: idx.shape, data: picked)
            case "Unsqueeze":
                let v = try arg(0)
                out = .int64(shape: [v.ints.count], data: v.ints)
            case "Cast":
                let v = try arg(0)
                out = (n.ints["to"]?.first ?? 1) == 1 ? .float(shape: v.shape, data: v.ints.map(Float.init)) : .int64(shape: v.shape, data: v.ints)
            case "Slice":
                let data = try arg(0).ints
                let start = try arg(1).ints.first ?? 0, stop = try arg(2).ints.first ?? data.count
                let lo = max(0, min(data.count, start < 0 ? start + data.count : start))
                let hi = max(lo, min(data.count, stop < 0 ? stop + data.count : stop))
                out = .int64(shape: [hi - lo], data: Array(data[lo..<hi]))
            default:
                throw ONNXError("operator \(n.op) is not supported by this interpreter")
            }
            for name in fusedRelu.contains(i) ? nodes[i + 1].outputs : n.outputs { values[name] = out }
            for name in n.inputs where lastUse[name] == i && !kept.contains(name) { values.removeValue(forKey: name) }
        }
        return try outputNames.map { name in
            guard let v = values[name] else { throw ONNXError("output \(name) was never computed") }
            return v
        }
    }

    /// Max pooling with ONNX's ceil_mode (windows past the edge take the max of what is inside).
    private func maxPool(_ x: ([Int], [Float]), _ n: ONNXNode) throws -> ONNXValue {
        let (s, d) = x
        let k = n.ints["kernel_shape"]?.first ?? 2, st = n.ints["strides"]?.first ?? k
        let ceil = (n.ints["ceil_mode"]?.first ?? 0) == 1
        let c = s[1], h = s[2], w = s[3]
        func outSize(_ v: Int) -> Int { ceil ? (v - k + st - 1) / st + 1 : (v - k) / st + 1 }
        let ho = max(1, outSize(h)), wo = max(1, outSize(w))
        var out = [Float](repeating: -.infinity, count: c * ho * wo)
        guard d.count >= c * h * w, !out.isEmpty else { throw ONNXError("MaxPool node: empty or inconsistent input \(s)") }
        d.withUnsafeBufferPointer { db in out.withUnsafeMutableBufferPointer { ob in
            let (dp, op) = (UncheckedSendable(db.baseAddress!), UncheckedSendable(ob.baseAddress!))
            parallelFor(c) { channels in
                for ch in channels {
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            var m = -Float.infinity
                            for ky in 0..<k {
                                let iy = oy * st + ky
                                if iy >= h { break }
                                for kx in 0..<k {
                                    let ix = ox * st + kx
                                    if ix >= w { break }
                                    m = max(m, dp.value[(ch * h + iy) * w + ix])
                                }
                            }
                            op.value[(ch * ho + oy) * wo + ox] = m
                        }
                    }
                }
            }
        } }
        return .float(shape: [s[0], c, ho, wo], data: out)
    }

    /// Bilinear resize with PyTorch's half-pixel convention (align_corners = False).
    private func resize(_ x: ([Int], [Float]), sizes: [Int], _ n: ONNXNode) throws -> ONNXValue {
        let (s, d) = x
        guard n.strings["mode"] == "linear", sizes.count == 4 else { throw ONNXError("Resize: only linear mode with explicit sizes is supported") }
        let c = s[1], h = s[2], w = s[3], ho = sizes[2], wo = sizes[3]
        var out = [Float](repeating: 0, count: c * ho * wo)
        func taps(_ inSize: Int, _ outSize: Int) -> [(Int, Int, Float)] {
            (0..<outSize).map { o in
                let src = outSize > 1 ? max(0, (Float(o) + 0.5) * Float(inSize) / Float(outSize) - 0.5) : 0
                let i0 = min(Int(src), inSize - 1), i1 = min(i0 + 1, inSize - 1)
                return (i0, i1, src - Float(i0))
            }
        }
        let ty = taps(h, ho), tx = taps(w, wo)
        guard d.count >= c * h * w, h > 0, w > 0, !out.isEmpty else { throw ONNXError("Resize node: empty or inconsistent input \(s)") }
        d.withUnsafeBufferPointer { db in out.withUnsafeMutableBufferPointer { ob in
            let (dp, op) = (UncheckedSendable(db.baseAddress!), UncheckedSendable(ob.baseAddress!))
            parallelFor(c) { channels in
                for ch in channels {
                    let plane = dp.value + ch * h * w
                    for oy in 0..<ho {
                        let (y0, y1, fy) = ty[oy]
                        let r0 = plane + y0 * w, r1 = plane + y1 * w, dst = op.value + (ch * ho + oy) * wo
                        for ox in 0..<wo {
                            let (x0, x1, fx) = tx[ox]
                            let top = r0[x0] * (1 - fx) + r0[x1] * fx
                            let bottom = r1[x0] * (1 - fx) + r1[x1] * fx
                            dst[ox] = top * (1 - fy) + bottom * fy
                        }
                    }
                }
            }
        } }
        return .float(shape: [s[0], c, ho, wo], data: out)
    }
}
