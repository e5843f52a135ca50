import Foundation
import Synchronization

/// How messages are framed on the pipe.
public enum Framing: String, Sendable {
    /// LSP base protocol: `Content-Length: N` headers, a blank line, N bytes of JSON.
    case headers
    /// One JSON message per line.
    case lines
}

/// What the reader hands the server for each message.
public enum Incoming: Sendable {
    case message(JSON, Framing)
    /// A message with a string that is not exact Unicode (invalid UTF-8, a lone surrogate):
    /// parsed with U+FFFD in its place; `at` says where (`params.uri`). The server refuses it.
    case inexactText(JSON, at: String, Framing)
    /// The bytes could not be a message; the server answers with `error` (id null) and reads on.
    /// The framing is nil when the bytes do not say (a stray line): it must not fix the
    /// framing of the replies.
    case malformed(RPCError, Framing?)
}

/// Splits a byte stream into messages, in either framing, detected per message from its first
/// non-space byte: `{` or `[` starts a line of JSON, a header name followed by `:` starts a
/// header block (confirmed line by line: `Name: value` lines up to a blank one, with
/// Content-Length among them); anything else is a stray line, answered as a parse error and
/// dropped up to its newline (or the next `Content-Length` header) so the next message reads
/// normally. Never buffers more than `limit` bytes of one message: an oversized one is
/// reported at once and exactly its declared length is skipped as it streams past (nothing
/// inside it is read: a header in a refused body must not start a message); only a length
/// no client could mean (over 4 GiB) makes the reader look for the next header instead.
public struct MessageReader: Sendable {
    let limit: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes still to drop of an oversized header-framed body.
    private var skipping = 0
    /// Dropping bytes up to the next `Content-Length` header, after an implausible length.
    private var seekingHeader = false
    /// Declared lengths above this (4 GiB) are no body any client sends (a length of 2⁶³ − 1,
    /// or 100 GB in a stdio pipe): the reader looks for the next message instead of waiting
    /// for bytes that will never come. Up to it, a refused body is skipped exactly.
    static let plausibleLength = 1 << 32
    /// Dropping the rest of an oversized line, up to its newline.
    private var skippingLine = false
    static let maximumHeaderBytes = 8192
    private static let contentLength = Array("content-length".utf8)

    public init(limit: Int) { self.limit = limit }

    /// Adds bytes read from the pipe and returns every message now complete.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Incoming] {
        buffer.append(contentsOf: chunk)
        var out: [Incoming] = []
        while let next = nextMessage() { out.append(next) }
        // Compact what was consumed.
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return out
    }

    private mutating func nextMessage() -> Incoming? {
        if skipping > 0 {
            // Exactly the declared length is dropped: nothing inside a refused body is read,
            // not even text that looks like a header (it could smuggle a request past the limit).
            let n = min(skipping, buffer.count - start)
            start += n
            skipping -= n
            if skipping > 0 { return nil }
        }
        if seekingHeader {
            // After a length no client sends: bytes are dropped up to the next Content-Length.
            if let header = firstContentLength(from: start, to: buffer.count) {
                start = header
                seekingHeader = false
            } else {
                // Keep the last few bytes: a header name may be split across two reads.
                start = max(start, buffer.count - (Self.contentLength.count - 1))
                return nil
            }
        }
        if skippingLine {
            guard let nl = firstIndex(of: 0x0A, from: start) else { start = buffer.count; return nil }
            start = nl + 1
            skippingLine = false
        }
        // Skip blank space between messages.
        while start < buffer.count, [0x20, 0x0A, 0x0D, 0x09].contains(buffer[start]) { start += 1 }
        guard start < buffer.count else { return nil }
        let first = buffer[start]
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return nextLine() }
        switch headerStart() {
        case .header: return nextHeaderMessage()
        case .undecided: return nil
        case .stray: return strayLine()
        }
    }

    private enum HeaderStart { case header, undecided, stray }

    /// Whether the bytes at `start` begin `Name:` (a header), cannot (stray text), or need more input.
    private func headerStart() -> HeaderStart {
        var i = start
        while i < buffer.count && i - start < Self.maximumHeaderBytes {
            let b = buffer[i]
            let token = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
            if b == UInt8(ascii: ":") { return i > start ? .header : .stray }
            if !token { return .stray }
            i += 1
        }
        return i - start >= Self.maximumHeaderBytes ? .stray : .undecided
    }

    /// A line that is neither JSON nor a header (`42`, `hello`, NUL bytes): one parse error,
    /// dropped up to its newline or to a `Content-Length` header glued onto it.
    private mutating func strayLine() -> Incoming? {
        let newline = firstIndex(of: 0x0A, from: start)
        let header = firstContentLength(from: start + 1, to: newline ?? buffer.count)
        let end: Int
        if let header { end = header } else if let newline { end = newline + 1 } else {
            // No end yet: wait for it, unless the junk is already longer than any header.
            guard buffer.count - start >= Self.maximumHeaderBytes else { return nil }
            start = buffer.count
            skippingLine = true
            return .malformed(.parse("a line that is neither JSON nor a message header was dropped"), nil)
        }
        let shown = String(decoding: buffer[start..<min(end, start + 40)], as: UTF8.self)
        start = end
        return .malformed(.parse("a line that is neither a JSON message nor a message header was dropped: \(shown.debugDescription); send one JSON object per line, or Content-Length framing"), nil)
    }

    /// Where the next `Content-Length` (any case) starts in `from..<to`, if anywhere.
    private func firstContentLength(from: Int, to: Int) -> Int? {
        let pattern = Self.contentLength
        guard to - from >= pattern.count else { return nil }
        var i = from
        while i + pattern.count <= to {
            if buffer[i] | 0x20 == pattern[0] {
                var k = 1
                while k < pattern.count && (buffer[i + k] | 0x20) == pattern[k] { k += 1 }
                if k == pattern.count { return i }
            }
            i += 1
        }
        return nil
    }

    private func firstIndex(of byte: UInt8, from: Int) -> Int? {
        buffer.withUnsafeBufferPointer { b in
            guard from < b.count, let base = b.baseAddress else { return nil }
            guard let p = memchr(base + from, Int32(byte), b.count - from) else { return nil }
            return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
        }
    }

    private mutating func nextLine() -> Incoming? {
        guard let nl = firstIndex(of: 0x0A, from: start) else {
            if buffer.count - start > limit {
                start = buffer.count
                skippingLine = true
                return .malformed(.tooLarge(limit: limit, size: nil), .lines)
            }
            return nil
        }
        let line = Array(buffer[start..<nl])
        start = nl + 1
        if line.count > limit { return .malformed(.tooLarge(limit: limit, size: line.count), .lines) }
        return parse(line, .lines)
    }

    private mutating func nextHeaderMessage() -> Incoming? {
        // A header block is `Name: value` lines ending in a blank line (CRLF CRLF; a bare LF
        // LF is accepted too), with Content-Length among them. Each line is checked as it
        // comes: a line that is not a header (a JSON message, text) before the blank line means
        // the first line was a stray one that only looked like a header (`Note: hello`). It
        // alone is dropped, so the line-framed requests after it are read normally.
        var lineStart = start
        var length: Int? = nil, lengths = Set<String>()
        while true {
            guard let nl = firstIndex(of: 0x0A, from: lineStart), nl - start < Self.maximumHeaderBytes else {
                if buffer.count - start >= Self.maximumHeaderBytes {
                    // No blank line within a header's worth of bytes: drop to the next line and resync.
                    skippingLine = true
                    start += Self.maximumHeaderBytes
                    return .malformed(.parse("the message headers are not terminated by a blank line within \(Self.maximumHeaderBytes) bytes"), .headers)
                }
                return nil
            }
            var lineEnd = nl
            if lineEnd > lineStart && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            if lineEnd == lineStart {
                // The blank line: the block is complete.
                // (A blank first line cannot happen: blank space before a message is skipped.)
                if lineStart == start { return dropFirstLineAsStray() }
                let bodyStart = nl + 1
                return headerBlock(end: lineStart, length: length, conflicting: lengths.count > 1, bodyStart: bodyStart)
            }
            guard let colon = headerColon(from: lineStart, to: lineEnd) else {
                // Not a header line: the block was never one. Drop its first line only.
                return dropFirstLineAsStray()
            }
            let name = String(decoding: buffer[lineStart..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: buffer[(colon + 1)..<lineEnd], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                lengths.insert(value)
                // One decimal number: no sign, no spaces inside, no leading "+".
                length = value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) && !value.isEmpty ? Int(value) : nil
            }
            lineStart = nl + 1
        }
    }

    /// Where the `:` of a `Name: value` line in `from..<to` is, when the name is a header token.
    private func headerColon(from: Int, to: Int) -> Int? {
        var i = from
        while i < to {
            let b = buffer[i]
            if b == UInt8(ascii: ":") { return i > from ? i : nil }
            let token = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
            if !token { return nil }
            i += 1
        }
        return nil
    }

    /// The first line at `start` looked like a header but starts no header block.
    private mutating func dropFirstLineAsStray() -> Incoming {
        let nl = firstIndex(of: 0x0A, from: start) ?? buffer.count
        let shown = String(decoding: buffer[start..<min(nl, start + 40)], as: UTF8.self)
        start = min(nl + 1, buffer.count)
        return .malformed(.parse("a line that looks like a header but starts no message was dropped: \(shown.debugDescription) (a header block needs Content-Length and a blank line)"), nil)
    }

    /// A complete header block (its lines are `start..<end`): its body, or why it is refused.
    private mutating func headerBlock(end: Int, length: Int?, conflicting: Bool, bodyStart: Int) -> Incoming? {
        let headerText = String(decoding: buffer[start..<end], as: UTF8.self).trimmingCharacters(in: .newlines)
        if conflicting {
            // RFC 9112 §6.3: differing lengths cannot be trusted; which bytes are the body is unknown.
            start = bodyStart
            return .malformed(.parse("a header block with Content-Length headers that disagree (\(headerText.debugDescription)); the message is refused"), .headers)
        }
        guard let n = length, n >= 0 else {
            start = bodyStart
            return .malformed(.parse("a header block without a valid Content-Length (got \(headerText.debugDescription)); send `Content-Length: <bytes>` then a blank line"), .headers)
        }
        if n > limit {
            start = bodyStart
            if n <= Self.plausibleLength { skipping = n } else { seekingHeader = true }
            return .malformed(.tooLarge(limit: limit, size: n), .headers)
        }
        guard buffer.count - bodyStart >= n else { return nil }
        let body = Array(buffer[bodyStart..<(bodyStart + n)])
        start = bodyStart + n
        return parse(body, .headers)
    }

    private func parse(_ bytes: [UInt8], _ framing: Framing) -> Incoming {
        do {
            let (value, replaced) = try JSON.parseReportingReplacements(bytes)
            if let replaced { return .inexactText(value, at: replaced, framing) }
            return .message(value, framing)
        } catch {
            return .malformed(.parse("the message is not valid JSON: \(error)"), framing)
        }
    }
}

/// Writes framed messages to a file descriptor, one whole message at a time, in the order
/// they were sent, from a queue of its own: no caller waits for the client to read. (The
/// reader thread answered bad requests itself, and a client that stopped reading held it in
/// `write`, so a cancel behind them was never read.)
public final class MessageWriter: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var framing: Framing?
    private let queue = DispatchQueue(label: "clipascene.writer")
    /// Bytes sent and not yet written. Notifications (progress) are dropped past
    /// `notificationBacklogLimit`, so a client that reads nothing cannot fill memory with
    /// them; answers are never dropped.
    private let pending = Mutex(0)
    public static let notificationBacklogLimit = 16 << 20
    /// Called once when the pipe is gone (the client went away).
    public let onBrokenPipe: @Sendable () -> Void

    public init(fd: Int32, onBrokenPipe: @escaping @Sendable () -> Void) {
        self.fd = fd
        self.onBrokenPipe = onBrokenPipe
    }

    /// The first message read fixes the framing of everything written back.
    public func adopt(_ f: Framing) {
        lock.lock()
        if framing == nil { framing = f }
        lock.unlock()
    }

    /// Set once the process is exiting (SIGTERM): from then on nothing waits for the client
    /// to read, and what is not yet written is dropped.
    private let abandoned = Mutex(false)

    /// Stops every send, now and later, from waiting on the client (a client that reads
    /// nothing must not keep SIGTERM from saving and exiting).
    public func abandon() { abandoned.withLock { $0 = true } }

    /// Queues `message`; `written` runs once it is written (or dropped because the process
    /// is exiting). Returns at once.
    public func send(_ message: JSON, written: (@Sendable () -> Void)? = nil) {
        let body = message.serialized
        lock.lock()
        let lines = (framing ?? .headers) == .lines
        lock.unlock()
        var bytes: [UInt8]
        if lines {
            bytes = body
            bytes.append(0x0A)
        } else {
            bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8)
            bytes.append(contentsOf: body)
        }
        let framed = bytes
        let count = framed.count
        let isNotification = message["id"] == nil
        let admitted = pending.withLock { pending -> Bool in
            if isNotification && pending + count > Self.notificationBacklogLimit { return false }
            pending += count
            return true
        }
        guard admitted else { written?(); return }
        queue.async { [self] in
            writeAll(framed)
            pending.withLock { $0 -= count }
            written?()
        }
    }

    /// Waits until everything sent is written, at most `seconds`; true when it all was.
    @discardableResult
    public func drain(seconds: Double) -> Bool {
        let done = DispatchSemaphore(value: 0)
        queue.async { done.signal() }
        return done.wait(timeout: .now() + seconds) == .success
    }

    private func writeAll(_ bytes: [UInt8]) {
        // At most a pipe buffer's page at a time, each once poll says there is room: a client
        // that stops reading blocks us in poll, which wakes up to notice `abandon()`, never in
        // a write that cannot be interrupted.
        var offset = 0
        while offset < bytes.count {
            if abandoned.withLock({ $0 }) { return }
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let polled = poll(&ready, 1, 200)
            if polled == 0 || (polled < 0 && errno == EINTR) { continue }
            if polled < 0 || ready.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && ready.revents & Int16(POLLOUT) == 0 {
                onBrokenPipe()
                return
            }
            let chunk = min(bytes.count - offset, Int(PIPE_BUF))
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, chunk) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                onBrokenPipe()
                return
            }
            offset += n
        }
    }
}
