import Foundation

public enum SVGError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case notSVG(String)
    case badPathData(String)
    case unsupportedCommand(Character)

    public var description: String {
        switch self {
        case .unreadable(let why): return "cannot read the SVG file (\(why))"
        case .notSVG(let why): return "not an SVG document (\(why))"
        case .badPathData(let why): return "bad path data: \(why)"
        case .unsupportedCommand(let c): return "path command '\(c)' is not supported (use M, L, H, V, C, S, Q, T or Z)"
        }
    }
}

extension SVGDocument {
    /// Reads strokes from SVG text: our own output, the reference implementations'
    /// (`M x y C …`, commas or spaces), and ordinary editors' paths (lines and quadratics
    /// become cubics; every subpath becomes one stroke). Group and path `transform`s are applied.
    public static func parse(_ text: String) throws -> SVGDocument {
        let reader = SVGTreeReader()
        do {
            try XMLScanner.scan(text) { event in
                switch event {
                // Elements by their local name: `svg:path` (a prefixed SVG namespace) is a path.
                case .start(let name, let attributes): try reader.start(Self.localName(name), attributes: attributes)
                case .end(let name): reader.end(Self.localName(name))
                }
            }
        } catch let e as XMLScanner.Malformed {
            throw SVGError.notSVG("malformed XML: \(e.description)")
        }
        guard reader.sawRoot else { throw SVGError.notSVG("no <svg> element") }
        var doc = SVGDocument(width: reader.width ?? 224, height: reader.height ?? 224,
                              groups: reader.groups.filter { !$0.strokes.isEmpty }, clipPaths: reader.clipPaths,
                              whiteBackground: true)
        if doc.groups.isEmpty { doc.groups = [SVGGroup(strokes: [])] }
        return doc
    }

    static func localName(_ name: String) -> String {
        name.lastIndex(of: ":").map { String(name[name.index(after: $0)...]) } ?? name
    }

    public static func read(path: String) throws -> SVGDocument {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SVGError.unreadable("\(path): \(error.localizedDescription)")
        }
        return try parse(text)
    }
}

/// A 2-D affine map (a c e / b d f), as SVG's `matrix(a b c d e f)`.
struct Affine: Equatable {
    var a: Float = 1, b: Float = 0, c: Float = 0, d: Float = 1, e: Float = 0, f: Float = 0
    func apply(_ p: SIMD2<Float>) -> SIMD2<Float> { SIMD2(a * p.x + c * p.y + e, b * p.x + d * p.y + f) }
    func then(_ m: Affine) -> Affine {  // self first, then m
        Affine(a: m.a * a + m.c * b, b: m.b * a + m.d * b, c: m.a * c + m.c * d, d: m.b * c + m.d * d,
               e: m.a * e + m.c * f + m.e, f: m.b * e + m.d * f + m.f)
    }
    /// How much lengths grow (geometric mean of the axis scales), for stroke widths.
    var lengthScale: Float { abs(a * d - b * c).squareRoot() }

    static func parse(_ text: String) -> Affine {
        var result = Affine()
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "("), let close = rest[open...].firstIndex(of: ")") {
            let name = rest[..<open].trimmingCharacters(in: CharacterSet(charactersIn: " ,\t\n"))
            let nums = rest[rest.index(after: open)..<close]
                .split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }).compactMap { Float($0) }
            var m = Affine()
            switch (name, nums.count) {
            case ("matrix", 6): m = Affine(a: nums[0], b: nums[1], c: nums[2], d: nums[3], e: nums[4], f: nums[5])
            case ("translate", 1): m.e = nums[0]
            case ("translate", 2): m.e = nums[0]; m.f = nums[1]
            case ("scale", 1): m.a = nums[0]; m.d = nums[0]
            case ("scale", 2): m.a = nums[0]; m.d = nums[1]
            case ("rotate", 1):
                let r = nums[0] * .pi / 180
                m = Affine(a: cos(r), b: sin(r), c: -sin(r), d: cos(r))
            default: break
            }
            // Transform lists apply right to left: the last listed acts on the points first.
            result = m.then(result)
            rest = rest[rest.index(after: close)...]
        }
        return result
    }
}

private final class SVGTreeReader {
    var width: Double?
    var height: Double?
    var groups: [SVGGroup] = [SVGGroup(strokes: [])]
    var clipPaths: [SVGClipPath] = []
    var sawRoot = false

    /// Inherited state for each open element.
    struct Context { var transform = Affine(); var strokeWidth: Float = 1; var opacity: Float = 1; var inClip: String? = nil }
    var stack: [Context] = [Context()]

    func start(_ name: String, attributes: [String: String]) throws {
        var ctx = stack.last ?? Context()
        var attrs = attributes
        // Inline style="stroke-width: 3; …" overrides attributes.
        if let style = attributes["style"] {
            for decl in style.split(separator: ";") {
                let kv = decl.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2 { attrs[kv[0]] = kv[1] }
            }
        }
        if let t = attrs["transform"] { ctx.transform = Affine.parse(t).then(ctx.transform) }
        if let w = attrs["stroke-width"].flatMap(parseLength) { ctx.strokeWidth = Float(w) }
        if let o = attrs["stroke-opacity"].flatMap(Float.init) { ctx.opacity = o }
        switch name {
        case "svg":
            sawRoot = true
            let box = attrs["viewBox"]?.split(whereSeparator: { $0 == " " || $0 == "," }).compactMap { Double($0) }
            if let box, box.count == 4 {
                width = box[2]; height = box[3]
                if box[0] != 0 || box[1] != 0 { ctx.transform = Affine(e: Float(-box[0]), f: Float(-box[1])).then(ctx.transform) }
            } else {
                width = attrs["width"].flatMap(parseLength)
                height = attrs["height"].flatMap(parseLength)
            }
        case "clipPath":
            ctx.inClip = attrs["id"] ?? "clip\(clipPaths.count)"
        case "g":
            let clip = attrs["clip-path"].flatMap { v -> String? in
                guard let open = v.range(of: "url(#"), let close = v.range(of: ")", range: open.upperBound..<v.endIndex)
                else { return nil }
                return String(v[open.upperBound..<close.lowerBound])
            }
            // The engine's count of left-out strokes (bounded: it is only a number to report).
            let omitted = attrs["clipascene:omitted-strokes"].flatMap { Int($0) }.map { min(max(0, $0), 1 << 20) } ?? 0
            groups.append(SVGGroup(id: attrs["id"], strokes: [], clipPathID: clip, omittedStrokes: omitted))
        case "path":
            guard let d = attrs["d"] else { break }
            if let clip = ctx.inClip {
                clipPaths.append(SVGClipPath(id: clip, pathData: d))
                break
            }
            if attrs["stroke"] == "none" { break }
            let scale = ctx.transform.lengthScale
            for pts in try PathData.parse(d) {
                groups[groups.count - 1].strokes.append(
                    Stroke(points: pts.map(ctx.transform.apply), halfWidth: ctx.strokeWidth * scale / 2,
                           opacity: ctx.opacity))
            }
        default: break
        }
        stack.append(ctx)
    }

    func end(_ name: String) {
        if stack.count > 1 { stack.removeLast() }
        if name == "g" { groups.append(SVGGroup(strokes: [])) }  // strokes after a group go to a fresh group
    }

    func parseLength(_ s: String) -> Double? {
        Double(s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "px", with: ""))
    }
}

/// SVG path data → one list of cubic control points per subpath.
enum PathData {
    static func parse(_ d: String) throws -> [[SIMD2<Float>]] {
        var tokens = Tokenizer(Array(d.utf8))
        var subpaths: [[SIMD2<Float>]] = []
        var current: [SIMD2<Float>] = []
        var pen = SIMD2<Float>(0, 0), start = pen
        var lastControl: SIMD2<Float>? = nil  // for S/T reflection
        var lastQuad: SIMD2<Float>? = nil
        var command: UInt8 = 0
        func flush() {
            if current.count >= 4 { subpaths.append(current) }
            current = []
        }
        func line(to p: SIMD2<Float>) {
            if current.isEmpty { current = [pen] }
            current += [pen + (p - pen) / 3, pen + 2 * (p - pen) / 3, p]
            pen = p
        }
        while true {
            if let c = tokens.command() { command = c } else if tokens.atEnd { break } else if command == 0 {
                throw SVGError.badPathData("expected a command at the start")
            }
            let rel = command >= 0x61  // lowercase
            let base = rel ? pen : SIMD2<Float>(0, 0)
            switch command | 0x20 {
            case UInt8(ascii: "m"):
                flush()
                pen = try base + tokens.point()
                start = pen
                current = [pen]
                command = rel ? UInt8(ascii: "l") : UInt8(ascii: "L")  // further pairs are lines
                lastControl = nil; lastQuad = nil
            case UInt8(ascii: "l"):
                line(to: try base + tokens.point()); lastControl = nil; lastQuad = nil
            case UInt8(ascii: "h"):
                let x = try tokens.number()
                line(to: SIMD2(rel ? pen.x + x : x, pen.y)); lastControl = nil; lastQuad = nil
            case UInt8(ascii: "v"):
                let y = try tokens.number()
                line(to: SIMD2(pen.x, rel ? pen.y + y : y)); lastControl = nil; lastQuad = nil
            case UInt8(ascii: "c"):
                let c1 = try base + tokens.point(), c2 = try base + tokens.point(), p = try base + tokens.point()
                if current.isEmpty { current = [pen] }
                current += [c1, c2, p]
                pen = p; lastControl = c2; lastQuad = nil
            case UInt8(ascii: "s"):
                let c1 = lastControl.map { 2 * pen - $0 } ?? pen
                let c2 = try base + tokens.point(), p = try base + tokens.point()
                if current.isEmpty { current = [pen] }
                current += [c1, c2, p]
                pen = p; lastControl = c2; lastQuad = nil
            case UInt8(ascii: "q"), UInt8(ascii: "t"):
                let q = (command | 0x20) == UInt8(ascii: "q") ? try base + tokens.point() : (lastQuad.map { 2 * pen - $0 } ?? pen)
                let p = try base + tokens.point()
                if current.isEmpty { current = [pen] }
                current += [pen + 2 * (q - pen) / 3, p + 2 * (q - p) / 3, p]
                pen = p; lastQuad = q; lastControl = nil
            case UInt8(ascii: "z"):
                if pen != start { line(to: start) }
                pen = start
                flush()
                current = []
                command = 0
                lastControl = nil; lastQuad = nil
                if tokens.atEnd { return subpaths }
                continue
            default:
                throw SVGError.unsupportedCommand(Character(UnicodeScalar(command)))
            }
            if tokens.atEnd { break }
        }
        flush()
        return subpaths
    }

    struct Tokenizer {
        let bytes: [UInt8]
        var i = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSeparators() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x2C || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
        var atEnd: Bool { mutating get { skipSeparators(); return i >= bytes.count } }

        mutating func command() -> UInt8? {
            skipSeparators()
            guard i < bytes.count else { return nil }
            let c = bytes[i]
            let isLetter = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if isLetter && c != UInt8(ascii: "e") && c != UInt8(ascii: "E") { i += 1; return c }
            return nil
        }

        mutating func number() throws -> Float {
            skipSeparators()
            let start = i
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            var sawDot = false, sawDigit = false
            while i < bytes.count {
                let c = bytes[i]
                if c >= 0x30 && c <= 0x39 { sawDigit = true; i += 1 } else if c == 0x2E && !sawDot { sawDot = true; i += 1 } else { break }
            }
            if sawDigit, i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
                var j = i + 1
                if j < bytes.count, bytes[j] == 0x2B || bytes[j] == 0x2D { j += 1 }
                if j < bytes.count, bytes[j] >= 0x30 && bytes[j] <= 0x39 {
                    i = j
                    while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
                }
            }
            guard sawDigit, let v = Float(String(decoding: bytes[start..<i], as: UTF8.self)), v.isFinite else {
                let near = String(decoding: bytes[start..<min(bytes.count, start + 12)], as: UTF8.self)
                throw SVGError.badPathData("expected a number at offset \(start) (\"\(near)\")")
            }
            return v
        }

        mutating func point() throws -> SIMD2<Float> { SIMD2(try number(), try number()) }
    }
}
