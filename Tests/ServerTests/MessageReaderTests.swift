import JSONRPC
import XCTest
import Server

/// The framing reader: both framings at any read size, oversized and broken messages.
final class MessageReaderTests: XCTestCase {
    func testReaderSplitsBothFramings() {
        var reader = MessageReader(limit: 1000)
        let body = #"{"jsonrpc":"2.0","method":"x"}"#
        let stream = "Content-Length: \(body.utf8.count)\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n\(body)"
            + "\n" + body + "\n"
        var got: [Incoming] = []
        // Fed a byte at a time: messages must not depend on read boundaries.
        for b in Array(stream.utf8) { got += [b].withUnsafeBytes { reader.feed($0) } }
        XCTAssertEqual(got.count, 2)
        if case .message(let m, let f) = got[0] { XCTAssertEqual(f, .headers); XCTAssertEqual(m["method"], "x") } else { XCTFail() }
        if case .message(_, let f) = got[1] { XCTAssertEqual(f, .lines) } else { XCTFail() }
    }

    func testReaderSkipsOversizedAndBrokenMessages() {
        var reader = MessageReader(limit: 100)
        let big = String(repeating: "a", count: 500)
        let ok = #"{"id":1}"#
        let stream = "Content-Length: 500\r\n\r\n\(big)" + "Content-Length: \(ok.utf8.count)\r\n\r\n\(ok)"
            + "Bogus: 1\r\n\r\n" + "Content-Length: \(ok.utf8.count)\r\n\r\n\(ok)"
        let got = Array(stream.utf8).withUnsafeBytes { reader.feed($0) }
        XCTAssertEqual(got.count, 4)
        guard got.count == 4 else { return }
        if case .malformed(let e, _) = got[0] { XCTAssertEqual(e.code, -32600); XCTAssertTrue(e.message.contains("500")) } else { XCTFail() }
        if case .message(let m, _) = got[1] { XCTAssertEqual(m["id"], .int(1)) } else { XCTFail() }
        if case .malformed(let e, _) = got[2] { XCTAssertEqual(e.code, -32700) } else { XCTFail() }
        if case .message = got[3] {} else { XCTFail() }
        var lines = MessageReader(limit: 100)
        let long = "{" + String(repeating: " ", count: 300) + "}\n" + ok + "\n"
        let got2 = Array(long.utf8).withUnsafeBytes { lines.feed($0) }
        XCTAssertEqual(got2.count, 2)
        if case .malformed(let e, _) = got2.first { XCTAssertEqual(e.code, -32600) } else { XCTFail() }
    }

    /// What the reader makes of a stream, in a comparable form: "msg:<id>" or "err:<code>".
    func outcomes(_ stream: [UInt8], limit: Int = 1000, chunk: Int? = nil) -> [String] {
        var reader = MessageReader(limit: limit)
        var out: [Incoming] = []
        let size = chunk ?? max(1, stream.count)
        var i = 0
        while i < stream.count {
            let end = min(stream.count, i + size)
            out += Array(stream[i..<end]).withUnsafeBytes { reader.feed($0) }
            i = end
        }
        return out.map {
            switch $0 {
            case .message(let m, _): return "msg:\(m["id"]?.text ?? "-")"
            case .malformed(let e, _): return "err:\(e.code)"
            case .inexactText(let m, let at, _): return "inexact(\(at)):\(m["id"]?.text ?? "-")"
            }
        }
    }

    /// Stray lines, lying lengths and junk glued to a header: each is one error, the messages
    /// around them all arrive, and it makes no difference how the bytes are split into reads.
    func testStrayBytesAndLyingLengthsResynchronise() {
        func framed(_ id: Int) -> String { let b = #"{"id":\#(id)}"#; return "Content-Length: \(b.utf8.count)\r\n\r\n\(b)" }
        let stream = Array(("42\n" + #"{"id":1}"# + "\nhello world\n" + framed(2) + "Content-Length: 9223372036854775807\r\n\r\n"
                            + "{\"partial\": " + framed(3) + "\u{0}\u{0}junk" + framed(4) + "true\n" + #"{"id":5}"# + "\n").utf8)
        let expected = ["err:-32700", "msg:1", "err:-32700", "msg:2", "err:-32600", "msg:3", "err:-32700", "msg:4", "err:-32700", "msg:5"]
        XCTAssertEqual(outcomes(stream), expected)
        for chunk in [1, 2, 3, 7, 13] { XCTAssertEqual(outcomes(stream, chunk: chunk), expected, "reads of \(chunk) bytes") }
        // Stray lines do not decide the framing of the replies; messages do.
        var reader = MessageReader(limit: 100)
        let got = Array("hello\n".utf8).withUnsafeBytes { reader.feed($0) }
        if case .malformed(_, let f)? = got.first { XCTAssertNil(f) } else { XCTFail("\(got)") }
    }
}

extension MessageReaderTests {
    /// A stray line shaped like a header (`Note: hello`, `Error: x`, a URL) is one parse error;
    /// the line-framed requests after it all arrive. It used to switch the reader into header
    /// mode and swallow the next 8 KB of requests (issue 24, item 8).
    func testHeaderShapedLinesDoNotSwallowTheRequestsAfterThem() {
        for stray in ["Note: hello", "Error: x", "http://example.com/a:b", "X-Thing:", "Content-Type: text/plain"] {
            let lines = (1...120).map { #"{"id":\#($0)}"# }
            let stream = Array((stray + "\n" + lines.joined(separator: "\n") + "\n").utf8)
            let expected = ["err:-32700"] + (1...120).map { "msg:\($0)" }
            XCTAssertEqual(outcomes(stream, limit: 100_000), expected, stray)
            for chunk in [1, 5, 64] { XCTAssertEqual(outcomes(stream, limit: 100_000, chunk: chunk), expected, "\(stray), reads of \(chunk)") }
        }
        // A real header block with an extra field still frames a message.
        let body = #"{"id":7}"#
        let framed = Array("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        XCTAssertEqual(outcomes(framed), ["msg:7"])
    }

    /// A body over the limit is skipped exactly: a `Content-Length` header inside it, even a
    /// whole request, is never read (it used to be: a `shutdown` smuggled in a refused body
    /// ran, and text in a JSON string lost the next two requests; issue 24, item 9).
    func testARefusedBodyIsSkippedExactly() {
        let smuggled = #"{"id":99,"method":"shutdown"}"#
        let inner = "Content-Length: \(smuggled.utf8.count)\r\n\r\n\(smuggled)"
        let body = #"{"id":1,"params":{"text":"\#(inner.replacingOccurrences(of: "\r\n", with: "\\r\\n"))","pad":"\#(String(repeating: "x", count: 200))"}}"#
        let raw = "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        // The same text raw inside the body (not a valid JSON body: it is refused unread anyway).
        let rawInner = #"{"id":2,"junk":""# + String(repeating: "y", count: 150) + "\r\n" + inner + "}"
        let second = "Content-Length: \(rawInner.utf8.count)\r\n\r\n" + rawInner
        let after = #"{"id":3}"#
        let stream = Array((raw + second + "Content-Length: \(after.utf8.count)\r\n\r\n" + after).utf8)
        let expected = ["err:-32600", "err:-32600", "msg:3"]
        XCTAssertEqual(outcomes(stream, limit: 100), expected)
        for chunk in [1, 3, 17, 64] { XCTAssertEqual(outcomes(stream, limit: 100, chunk: chunk), expected, "reads of \(chunk)") }
    }

    /// Two Content-Length headers that disagree: the message is refused (RFC 9112 §6.3); two
    /// that agree are one length.
    func testDisagreeingContentLengthsAreRefused() {
        let body = #"{"id":1}"#
        let agree = Array("Content-Length: \(body.utf8.count)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        XCTAssertEqual(outcomes(agree), ["msg:1"])
        let disagree = Array("Content-Length: \(body.utf8.count)\r\nContent-Length: 3\r\n\r\n".utf8)
        XCTAssertEqual(outcomes(disagree).first, "err:-32700")
    }
}

/// The test client's reader (ClientFramingReader) and the server's read the same valid
/// streams alike, in both framings and at any read size; the client's refuses bad headers.
final class ClientFramingReaderTests: XCTestCase {
    func messages(_ n: Int) -> [JSON] {
        (0..<n).map { i in ["jsonrpc": "2.0", "id": .int(i), "result": ["text": .string(String(repeating: "é", count: i * 37 % 300))]] }
    }

    func testAgreesWithTheServersReader() {
        for framing in [Framing.headers, .lines] {
            let sent = messages(40)
            var stream: [UInt8] = []
            for m in sent {
                let body = m.serialized
                stream += framing == .lines ? body + [0x0A] : Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
            }
            for chunk in [1, 7, 64, 4096] {
                var ours = ClientFramingReader(framing: framing)
                var theirs = MessageReader(limit: 1 << 20)
                var a: [JSON] = [], b: [JSON] = []
                for start in stride(from: 0, to: stream.count, by: chunk) {
                    let piece = Array(stream[start..<min(stream.count, start + chunk)])
                    for r in ours.feed(piece) { if case .success(let m) = r { a.append(m) } else { XCTFail("\(r)") } }
                    for r in piece.withUnsafeBytes({ theirs.feed($0) }) { if case .message(let m, _) = r { b.append(m) } }
                }
                XCTAssertEqual(a, sent, "\(framing), chunks of \(chunk)")
                XCTAssertEqual(b, sent, "\(framing), chunks of \(chunk)")
            }
        }
    }

    func testRefusesBadHeaders() {
        for bad in ["Content-Length: 2x\r\n\r\n{}", "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "Content-Type: x\r\n\r\n{}",
                    "garbage\r\n\r\n{}"] {
            var r = ClientFramingReader(framing: .headers)
            let out = r.feed(Array(bad.utf8))
            XCTAssertEqual(out.count, 1, bad)
            if case .success = out.first { XCTFail("accepted \(bad.debugDescription)") }
        }
    }
}
