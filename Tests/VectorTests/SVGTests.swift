import Foundation
import XCTest
import Imaging
import Vector

final class SVGTests: XCTestCase {
    func testCoordinatesHaveAtMostTwoDecimalsAndNoTrailingZeros() {
        let s = Stroke(points: [SIMD2(0, -0.001), SIMD2(12.5, 3.14159), SIMD2(-2.05, 100), SIMD2(0.07, -1234.996)], halfWidth: 0.25)
        let xml = SVGDocument(width: 10, height: 10, groups: [SVGGroup(strokes: [s])]).xml()
        XCTAssertTrue(xml.contains(#"d="M 0 0 C 12.5 3.14 -2.05 100 0.07 -1235""#), xml)
        XCTAssertTrue(xml.contains(#"stroke-width="0.5""#), xml)
    }

    func testWriterOutputIsWellFormedAndRoundTrips() throws {
        var rng = SplitMix(3)
        var strokes = randomStrokes(10, canvas: 224, rng: &rng)
        strokes.append(Stroke(points: [SIMD2(1, 2), SIMD2(3, 4), SIMD2(5, 6), SIMD2(7, 8), SIMD2(9, 10), SIMD2(11, 12), SIMD2(13, 14)],
                              halfWidth: 0.75, opacity: 0.5))
        let doc = SVGDocument(width: 224, height: 160, groups: [
            SVGGroup(id: "background", strokes: Array(strokes[0..<5]), clipPathID: "outside-subject"),
            SVGGroup(id: "foreground", strokes: Array(strokes[5...])),
        ], clipPaths: [SVGClipPath(id: "outside-subject", pathData: "M0 0 H224 V160 H0 Z M50 50 H100 V100 H50 Z")])
        let xml = doc.xml()
        XCTAssertTrue(xml.contains("viewBox=\"0 0 224 160\""))
        XCTAssertTrue(xml.contains("width=\"224\" height=\"160\""))
        XCTAssertTrue(xml.contains("clip-path=\"url(#outside-subject)\""))
        XCTAssertTrue(xml.contains("stroke-linecap=\"round\""))
        XCTAssertEqual(xml.components(separatedBy: "<path d=").count - 1, strokes.count + 1, "one path per stroke + the clip")
        // No coordinate has more than two decimals.
        let numbers = try NSRegularExpression(pattern: "\\d+\\.\\d{3,}")
        XCTAssertEqual(numbers.numberOfMatches(in: xml, range: NSRange(xml.startIndex..., in: xml)), 0)

        let back = try SVGDocument.parse(xml)
        XCTAssertEqual(back.width, 224)
        XCTAssertEqual(back.height, 160)
        XCTAssertEqual(back.groups.map(\.id), ["background", "foreground"])
        XCTAssertEqual(back.groups[0].clipPathID, "outside-subject")
        XCTAssertEqual(back.clipPaths, doc.clipPaths)
        XCTAssertEqual(back.strokes.count, strokes.count)
        for (a, b) in zip(back.strokes, strokes) {
            XCTAssertEqual(a.points.count, b.points.count)
            for (p, q) in zip(a.points, b.points) {
                XCTAssertEqual(p.x, q.x, accuracy: 0.006)
                XCTAssertEqual(p.y, q.y, accuracy: 0.006)
            }
            XCTAssertEqual(a.halfWidth, b.halfWidth, accuracy: 0.006)
            XCTAssertEqual(a.opacity, b.opacity, accuracy: 0.006)
        }
    }

    /// The reference implementations write diffvg's format: full precision, rgb() colours,
    /// attributes on each path, and sometimes commas.
    func testReadsReferenceOutput() throws {
        let reference = """
        <?xml version="1.0" ?>
        <svg height="224" version="1.1" width="224" xmlns="http://www.w3.org/2000/svg">
          <defs/>
          <g>
            <path d="M 120.51853942871094 93.2215576171875 C 121.94268035888672 99.07582092285156 125.00283813476562 103.77214050292969 124.4891357421875 108.92646026611328" fill="none" stroke="rgb(0, 0, 0)" stroke-linecap="round" stroke-linejoin="round" stroke-opacity="1" stroke-width="3.0"/>
            <path d="M10,20 C11,22,13,25,14,30" fill="none" stroke="rgb(0, 0, 0)" stroke-width="1.5"/>
            <path d="m 5 5 c 1 1 2 2 3 3 l 10 0" stroke-width="2"/>
            <path d="M1e1 2E1 L 3.5.5 Q 40 40 50 20 Z" stroke-width="2"/>
          </g>
        </svg>
        """
        let doc = try SVGDocument.parse(reference)
        XCTAssertEqual(doc.width, 224)
        let s = doc.strokes
        XCTAssertEqual(s.count, 4)
        XCTAssertEqual(s[0].points[0].x, 120.51854, accuracy: 1e-4)
        XCTAssertEqual(s[0].points[3].y, 108.92646, accuracy: 1e-4)
        XCTAssertEqual(s[0].halfWidth, 1.5)
        XCTAssertEqual(s[1].points, [SIMD2(10, 20), SIMD2(11, 22), SIMD2(13, 25), SIMD2(14, 30)])
        XCTAssertEqual(s[1].halfWidth, 0.75)
        // Relative commands; a line becomes a straight cubic.
        XCTAssertEqual(s[2].points.count, 7)
        XCTAssertEqual(s[2].points[3], SIMD2(8, 8))
        XCTAssertEqual(s[2].points[6], SIMD2(18, 8))
        // Exponents, packed decimals ("3.5.5" is 3.5 then .5), quadratics, close path.
        XCTAssertEqual(s[3].points[0], SIMD2(10, 20))
        XCTAssertEqual(s[3].points[3], SIMD2(3.5, 0.5))
        XCTAssertEqual(s[3].points.last, SIMD2(10, 20), "Z draws back to the start")
    }

    func testTransformsAndViewBox() throws {
        let text = """
        <svg xmlns="http://www.w3.org/2000/svg" width="448px" height="448px" viewBox="0 0 224 224">
          <g transform="translate(10 20) scale(2)"><path d="M 1 1 C 2 2 3 3 4 4" stroke-width="3"/></g>
        </svg>
        """
        let doc = try SVGDocument.parse(text)
        XCTAssertEqual(doc.width, 224)
        XCTAssertEqual(doc.strokes[0].points[0], SIMD2(12, 22))
        XCTAssertEqual(doc.strokes[0].points[3], SIMD2(18, 28))
        XCTAssertEqual(doc.strokes[0].halfWidth, 3)
    }

    func testBadSVGGivesClearErrors() {
        XCTAssertThrowsError(try SVGDocument.parse("not xml at all <")) { XCTAssertTrue("\($0)".contains("SVG")) }
        XCTAssertThrowsError(try SVGDocument.parse("<html/>")) { XCTAssertTrue("\($0)".contains("no <svg>")) }
        XCTAssertThrowsError(try SVGDocument.parse("<svg><path d=\"M 1 1 C 2 x\"/></svg>")) {
            XCTAssertTrue("\($0)".contains("expected a number"), "\($0)")
        }
        XCTAssertThrowsError(try SVGDocument.parse("<svg><path d=\"M 1 1 A 5 5 0 0 1 9 9\"/></svg>")) {
            XCTAssertTrue("\($0)".contains("'A'"), "\($0)")
        }
        XCTAssertThrowsError(try SVGDocument.read(path: "/nonexistent/file.svg"))
    }

    /// Our own XML scanner: what real SVG files contain reads, malformed or hostile XML is an
    /// error (never a trap, never an entity expansion).
    func testXMLEdgesAndHostileMarkup() throws {
        let path = #"<path d="M 1 2 C 3 4 5 6 7 8"/>"#
        let fine = [
            "\u{FEFF}<svg>\(path)</svg>",                                   // byte-order mark
            "<?xml version='1.0'?><!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\"><svg>\(path)</svg>",
            "<!-- a > comment --><svg><![CDATA[ <g> ]]><g id='a&amp;b'>\(path)</g></svg>",
            "<svg:svg xmlns:svg='http://www.w3.org/2000/svg'><svg:g/></svg:svg>",
            "<?x?><svg>\(path)</svg>",                                        // crashed XMLParser
        ]
        for text in fine { XCTAssertNoThrow(try SVGDocument.parse(text), text) }
        XCTAssertEqual(try SVGDocument.parse("<svg><path d=\"M 0 0 C 1 1 2 2 3 3\" stroke-width='&#50;'/></svg>").groups[0].strokes[0].halfWidth, 1)
        let laughs = "<!DOCTYPE svg [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><svg id='&b;'/>"
        let bad = ["", "   ", "<svg>", "<svg></g>", "<svg><g></svg></g>", "<svg width=3/>", "<svg a='<'/>", "<svg/><svg/>",
                   "text<svg/>", "<svg/>text", "<svg id='&nope;'/>", laughs, "<!-- never closed <svg/>",
                   String(repeating: "<g>", count: 5000)]
        for text in bad {
            XCTAssertThrowsError(try SVGDocument.parse(text), text.prefix(40).description) { e in
                guard case SVGError.notSVG = e else { return XCTFail("\(e)") }
            }
        }
    }

    func testPNGExportAtScale() throws {
        let doc = SVGDocument(width: 40, height: 30, strokes: [Stroke(points: [SIMD2(5, 5), SIMD2(15, 5), SIMD2(25, 25), SIMD2(35, 25)])])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try doc.writePNG(to: path, scale: 2.5)
        let img = try ImageFile.decode(path: path)
        XCTAssertEqual(img.width, 100)
        XCTAssertEqual(img.height, 75)
        XCTAssertLessThan(img[0, 12, 12], 0.2, "the stroke's start, scaled")
    }

    /// Our rasteriser and librsvg draw our SVG alike (an independent, browser-grade renderer).
    func testAgreesWithRSVG() throws {
        guard let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else {
            return XCTFail("rsvg-convert is missing: make test installs librsvg2-bin")
        }
        var rng = SplitMix(99)
        let strokes = randomStrokes(64, canvas: 224, step: 14, width: 0.6...2.5, rng: &rng)
        let doc = SVGDocument(width: 224, height: 224, strokes: strokes)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rsvg-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let svg = dir.appendingPathComponent("scene.svg").path, png = dir.appendingPathComponent("scene.png").path
        try doc.write(to: svg)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: rsvg)
        p.arguments = ["-w", "224", "-h", "224", "-o", png, svg]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let theirs = try ImageFile.decode(path: png)
        let ours = doc.render().image
        var diff: Float = 0
        for i in ours.indices { diff += abs(ours[i] - theirs.pixels[i]) }
        diff /= Float(ours.count)
        let ink = ours.reduce(0) { $0 + (1 - $1) } / Float(ours.count)
        XCTAssertGreaterThan(ink, 0.05, "the scene has real ink")
        XCTAssertLessThan(diff, 0.03, "mean absolute difference \(diff)")
        print("rsvg agreement: mean |ours − rsvg| = \(diff), ink fraction \(ink)")
    }
}
