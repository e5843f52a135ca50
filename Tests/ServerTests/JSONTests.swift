import JSONRPC
import XCTest
import Server

final class JSONTests: XCTestCase {
    func testRoundTripKeepsTypes() throws {
        let text = #"{"a":1,"b":1.5,"c":"x\"y\\z\n","d":[true,false,null],"e":{"f":-3e2},"g":"é😀"}"#
        let v = try JSON.parse(text)
        XCTAssertEqual(v["a"], .int(1))
        XCTAssertEqual(v["b"], .double(1.5))
        XCTAssertEqual(v["c"], .string("x\"y\\z\n"))
        XCTAssertEqual(v["e"]?["f"], .double(-300))
        XCTAssertEqual(v["g"], .string("é😀"))
        // Integral doubles are written as integers, so compare the text after one round trip.
        XCTAssertEqual(try JSON.parse(v.text).text, v.text)
    }

    func testEscapesAndSurrogates() throws {
        XCTAssertEqual(try JSON.parse(#""\u00e9\ud83d\ude00\t""#), .string("é😀\t"))
        XCTAssertEqual(JSON.string("\u{1}").text, #""\u0001""#)
    }

    /// Issue 24 item 16: ids came back as `-0` → `0`, `1E+2` → `100`, `1.0` → `1`,
    /// `1e-400` → `0`, so `1` and `1.0` shared one key.
    func testNumbersComeBackAsWritten() throws {
        for text in ["-0", "1E+2", "1.0", "1e-400", "-0.0", "2.50", "1e2", "123456789012345678901234567890", "0", "-7", "1.5", "0.001", "1e+16"] {
            XCTAssertEqual(try JSON.parse(text).text, text, text)
            XCTAssertEqual(try JSON.parse("{\"id\":\(text)}").text, "{\"id\":\(text)}", text)
        }
        XCTAssertNotEqual(try JSON.parse("1").text, try JSON.parse("1.0").text)
        // Still numbers to whoever reads a value: 1.0 is the integer 1, 1E+2 is 100.
        XCTAssertEqual(try JSON.parse("1E+2").numberValue, 100)
        XCTAssertEqual(try Params(JSON.parse(#"{"n":1.0}"#)).int("n", in: 0...3), 1)
    }

    /// Issue 24 item 11: invalid UTF-8 and lone surrogates read as U+FFFD, so two different
    /// uris could name one document. The parser says where text was replaced.
    func testTextThatIsNotUnicodeIsReportedWithItsPlace() throws {
        let invalid: [UInt8] = Array(#"{"params":{"uri":"a"#.utf8) + [0xFF] + Array(#""}}"#.utf8)
        XCTAssertEqual(try JSON.parseReportingReplacements(invalid).replacedTextAt, "params.uri")
        let cases: [(String, String?)] = [
            (#"{"params":{"uri":"\ud800"}}"#, "params.uri"),
            (#"{"params":{"uri":"x\udc00y"}}"#, "params.uri"),
            (#"{"params":{"uri":"\ud800\u0041"}}"#, "params.uri"),
            (#"{"params":{"items":[1,"ok","\ud800"]}}"#, "params.items[2]"),
            (#"{"params":{"\udfff":1}}"#, "a key in params"),
            (#""\ud800""#, "the message"),
            (#"{"params":{"uri":"\ud83d\ude00 café"}}"#, nil),
            (#"{"params":{"uri":"\ufffd is a real character"}}"#, nil),
        ]
        for (text, at) in cases {
            XCTAssertEqual(try JSON.parseReportingReplacements(Array(text.utf8)).replacedTextAt, at, text)
        }
        // Valid multi-byte UTF-8 on the fast path is exact.
        XCTAssertNil(try JSON.parseReportingReplacements(Array(#"{"uri":"é😀"}"#.utf8)).replacedTextAt)
        // Overlong, truncated and surrogate-coding sequences are not UTF-8 either.
        for bytes: [UInt8] in [[0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80]] {
            XCTAssertEqual(try JSON.parseReportingReplacements([0x22] + bytes + [0x22]).replacedTextAt, "the message", "\(bytes)")
        }
    }

    func testRejectsMalformedInput() {
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "tru", "\"abc", "01x", "{\"a\":1} x", "\"\u{1}\"", "1e999", "[-]", "01", "-01", "[00]", "{\"id\":01}"] {
            XCTAssertThrowsError(try JSON.parse(bad), bad)
        }
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertThrowsError(try JSON.parse(deep))
    }
}
