/// The part of XML an SVG reader needs: start tags with their attributes, end tags, and
/// well-formedness. Comments, processing instructions, CDATA, text and the DOCTYPE are skipped;
/// only the five predefined entities and character references are expanded, so no input can
/// make it expand entities without bound. It replaces Foundation's XMLParser, which on Linux
/// dereferences NULL on `<?x?>` and leaks an object per parse error (both found by fuzzing).
struct XMLScanner {
    enum Event {
        case start(name: String, attributes: [String: String])
        case end(name: String)
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Nesting deeper than this is refused (the tree reader keeps a stack per element).
    static let maximumDepth = 4096

    /// Calls `handle` for each tag in document order; throws on malformed XML or when `handle` throws.
    static func scan(_ text: String, _ handle: (Event) throws -> Void) throws {
        let b = Array(text.utf8)
        var i = b.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0  // a byte-order mark
        var open: [String] = []
        var sawElement = false
        func fail(_ what: String) -> Malformed { Malformed(description: "\(what) at byte \(i)") }
        func skip(past end: [UInt8]) throws {
            while i < b.count {
                if b[i] == end[0] && i + end.count <= b.count && Array(b[i..<(i + end.count)]) == end { i += end.count; return }
                i += 1
            }
            throw fail("unterminated markup")
        }
        func isNameByte(_ c: UInt8) -> Bool {
            c >= 0x80 || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
        }
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        func name() throws -> String {
            let start = i
            while i < b.count && isNameByte(b[i]) { i += 1 }
            guard i > start else { throw fail("expected a name") }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        while i < b.count {
            guard b[i] == UInt8(ascii: "<") else {
                if !open.isEmpty || isSpace(b[i]) { i += 1; continue }
                // Text outside the root element: only white space is allowed there.
                if sawElement { throw fail("text after the root element") }
                throw fail("text before the root element")
            }
            guard i + 1 < b.count else { throw fail("unterminated tag") }
            let next = b[i + 1]
            if next == UInt8(ascii: "?") { i += 2; try skip(past: Array("?>".utf8)); continue }
            if next == UInt8(ascii: "!") {
                let rest = b[(i + 2)...]
                if rest.starts(with: Array("--".utf8)) { i += 4; try skip(past: Array("-->".utf8)); continue }
                if rest.starts(with: Array("[CDATA[".utf8)) { i += 9; try skip(past: Array("]]>".utf8)); continue }
                // <!DOCTYPE …> with an optional [internal subset], never interpreted.
                i += 2
                var bracket = false
                while i < b.count {
                    if b[i] == UInt8(ascii: "[") { bracket = true } else if b[i] == UInt8(ascii: "]") { bracket = false }
                    else if b[i] == UInt8(ascii: ">") && !bracket { break }
                    i += 1
                }
                guard i < b.count else { throw fail("unterminated declaration") }
                i += 1
                continue
            }
            if next == UInt8(ascii: "/") {
                i += 2
                let tag = try name()
                while i < b.count && isSpace(b[i]) { i += 1 }
                guard i < b.count, b[i] == UInt8(ascii: ">") else { throw fail("unterminated end tag </\(tag)") }
                i += 1
                guard let top = open.popLast(), top == tag else { throw fail("end tag </\(tag)> does not match") }
                try handle(.end(name: tag))
                continue
            }
            i += 1
            let tag = try name()
            if open.isEmpty && sawElement { throw fail("a second root element <\(tag)>") }
            var attributes: [String: String] = [:]
            var selfClosing = false
            while true {
                while i < b.count && isSpace(b[i]) { i += 1 }
                guard i < b.count else { throw fail("unterminated tag <\(tag)") }
                if b[i] == UInt8(ascii: ">") { i += 1; break }
                if b[i] == UInt8(ascii: "/") {
                    guard i + 1 < b.count, b[i + 1] == UInt8(ascii: ">") else { throw fail("stray '/' in <\(tag)>") }
                    i += 2
                    selfClosing = true
                    break
                }
                let key = try name()
                while i < b.count && isSpace(b[i]) { i += 1 }
                guard i < b.count, b[i] == UInt8(ascii: "=") else { throw fail("attribute \(key) without a value") }
                i += 1
                while i < b.count && isSpace(b[i]) { i += 1 }
                guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else {
                    throw fail("attribute \(key)'s value is not quoted")
                }
                let quote = b[i]
                i += 1
                let start = i
                while i < b.count && b[i] != quote {
                    if b[i] == UInt8(ascii: "<") { throw fail("'<' in the value of \(key)") }
                    i += 1
                }
                guard i < b.count else { throw fail("unterminated value of \(key)") }
                attributes[key] = try decodeEntities(b[start..<i], at: start)
                i += 1
            }
            sawElement = true
            try handle(.start(name: tag, attributes: attributes))
            if selfClosing {
                try handle(.end(name: tag))
            } else {
                guard open.count < maximumDepth else { throw fail("elements nested deeper than \(maximumDepth)") }
                open.append(tag)
            }
        }
        guard sawElement else { throw Malformed(description: "no element") }
        if let unclosed = open.last { throw Malformed(description: "<\(unclosed)> is never closed") }
    }

    /// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` and `&#N;` / `&#xN;`; anything else is an error.
    static func decodeEntities(_ bytes: ArraySlice<UInt8>, at offset: Int) throws -> String {
        guard bytes.contains(UInt8(ascii: "&")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes[i] == UInt8(ascii: "&") else { out.append(bytes[i]); i += 1; continue }
            guard let semicolon = bytes[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw Malformed(description: "an '&' that starts no entity at byte \(offset + i - bytes.startIndex)")
            }
            let entity = String(decoding: bytes[(i + 1)..<semicolon], as: UTF8.self)
            let named: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            if let v = named[entity] {
                out += Array(v.utf8)
            } else if entity.hasPrefix("#"), let code = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
                        : UInt32(entity.dropFirst(), radix: 10), let scalar = Unicode.Scalar(code), code != 0 {
                out += Array(String(Character(scalar)).utf8)
            } else {
                throw Malformed(description: "unknown entity &\(entity); (only the five predefined ones and character references)")
            }
            i = semicolon + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
