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

    func testRejectsMalformedInput() {
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "tru", "\"abc", "01x", "{\"a\":1} x", "\"\u{1}\"", "1e999", "[-]"] {
            XCTAssertThrowsError(try JSON.parse(bad), bad)
        }
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertThrowsError(try JSON.parse(deep))
    }
}
