import Foundation
import Imaging

/// A clip region given as SVG path data (filled with the even-odd rule).
public struct SVGClipPath: Sendable, Equatable {
    public var id: String
    public var pathData: String
    public init(id: String, pathData: String) {
        self.id = id
        self.pathData = pathData
    }
}

/// A luminance mask given as an embedded PNG (white shows, black hides), stretched over the canvas.
public struct SVGMaskImage: Sendable, Equatable {
    public var id: String
    public var png: [UInt8]
    public init(id: String, png: [UInt8]) {
        self.id = id
        self.png = png
    }
}

/// A named group of strokes, optionally clipped or masked.
public struct SVGGroup: Sendable, Equatable {
    public var id: String?
    public var strokes: [Stroke]
    public var clipPathID: String?
    public var maskID: String?
    /// How many strokes the engine left out of this group (collapsed to dots or off the page);
    /// written as the `clipascene:omitted-strokes` attribute when not zero.
    public var omittedStrokes: Int
    public init(id: String? = nil, strokes: [Stroke], clipPathID: String? = nil, maskID: String? = nil, omittedStrokes: Int = 0) {
        self.id = id
        self.strokes = strokes
        self.clipPathID = clipPathID
        self.maskID = maskID
        self.omittedStrokes = omittedStrokes
    }
}

/// An SVG 1.1 document of black strokes: what users see and what the engine reads back.
public struct SVGDocument: Sendable, Equatable {
    public var width: Double
    public var height: Double
    public var groups: [SVGGroup]
    public var clipPaths: [SVGClipPath]
    public var masks: [SVGMaskImage] = []
    /// Paint a white page under the strokes (viewers with dark themes otherwise show black on black).
    public var whiteBackground: Bool

    public init(width: Double, height: Double, groups: [SVGGroup], clipPaths: [SVGClipPath] = [],
                whiteBackground: Bool = true) {
        self.width = width
        self.height = height
        self.groups = groups
        self.clipPaths = clipPaths
        self.whiteBackground = whiteBackground
    }

    public init(width: Double, height: Double, strokes: [Stroke]) {
        self.init(width: width, height: height, groups: [SVGGroup(strokes: strokes)])
    }

    /// Every stroke, in drawing order.
    public var strokes: [Stroke] { groups.flatMap(\.strokes) }
}

/// Formats a coordinate to at most two decimals, without trailing zeros.
/// Integer arithmetic, not String(format:), which costs microseconds a call on Linux and made
/// a 64-stroke SVG take milliseconds.
func svgNumber(_ v: Double) -> String {
    let scaled = (v * 100).rounded()
    if scaled.isFinite && abs(scaled) < 1e15 {
        let n = Int64(scaled)
        if n == 0 { return "0" }
        let magnitude = n.magnitude
        var s = n < 0 ? "-" : ""
        s += String(magnitude / 100)
        let cents = Int(magnitude % 100)
        if cents != 0 {
            s += cents % 10 == 0 ? "." + String(cents / 10) : (cents < 10 ? ".0" : ".") + String(cents)
        }
        return s
    }
    var s = String(format: "%.2f", v)
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s == "-0" ? "0" : s
}

extension SVGDocument {
    /// The XML namespace of the engine's own attributes (renderers ignore them).
    public static let engineNamespace = "urn:clipascene:sketch"

    /// The SVG text. Coordinates have two decimals; one `<path>` per stroke.
    public func xml() -> String {
        let w = svgNumber(width), h = svgNumber(height)
        let namespace = groups.contains { $0.omittedStrokes > 0 } ? " xmlns:clipascene=\"\(Self.engineNamespace)\"" : ""
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"\(namespace) version="1.1" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)">

        """
        if !clipPaths.isEmpty || !masks.isEmpty {
            out += "<defs>\n"
            for c in clipPaths {
                out += "<clipPath id=\"\(xmlEscape(c.id))\"><path d=\"\(xmlEscape(c.pathData))\" clip-rule=\"evenodd\"/></clipPath>\n"
            }
            for m in masks {
                out += "<mask id=\"\(xmlEscape(m.id))\" maskUnits=\"userSpaceOnUse\" x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\">"
                    + "<image x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" preserveAspectRatio=\"none\" "
                    + "xlink:href=\"data:image/png;base64,\(Data(m.png).base64EncodedString())\"/></mask>\n"
            }
            out += "</defs>\n"
        }
        if whiteBackground { out += "<rect width=\"\(w)\" height=\"\(h)\" fill=\"white\"/>\n" }
        for g in groups {
            var attrs = ""
            if let id = g.id { attrs += " id=\"\(xmlEscape(id))\"" }
            if let clip = g.clipPathID { attrs += " clip-path=\"url(#\(xmlEscape(clip)))\"" }
            if let mask = g.maskID { attrs += " mask=\"url(#\(xmlEscape(mask)))\"" }
            if g.omittedStrokes > 0 { attrs += " clipascene:omitted-strokes=\"\(g.omittedStrokes)\"" }
            out += "<g\(attrs)>\n"
            for s in g.strokes where s.isFinite { out += pathElement(s) + "\n" }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }

    func pathElement(_ s: Stroke) -> String {
        var d = "M \(svgNumber(Double(s.points[0].x))) \(svgNumber(Double(s.points[0].y)))"
        for j in 0..<s.segmentCount {
            d += " C"
            for k in 1...3 {
                let p = s.points[3 * j + k]
                d += " \(svgNumber(Double(p.x))) \(svgNumber(Double(p.y)))"
            }
        }
        // Every path carries its full style, so a path copied out of the file still draws the same.
        return "<path d=\"\(d)\" fill=\"none\" stroke=\"black\" stroke-width=\"\(svgNumber(Double(2 * s.halfWidth)))\" "
            + "stroke-opacity=\"\(svgNumber(Double(min(1, max(0, s.opacity)))))\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>"
    }

    /// Writes the document atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try AtomicFile.write(Data(xml().utf8), to: path)
    }
}

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
