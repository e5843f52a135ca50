import Foundation
import JSONRPC

/// The test client's own reader of what the server writes, kept apart from the server's
/// `MessageReader` so that a framing bug in one shows up against the other. It is strict: a
/// reply must come in the framing the client used, headers exactly `Name: value` lines with
/// one decimal `Content-Length`, lines ending in `\n`.
struct ClientFramingReader {
    let framing: Framing
    private var buffer: [UInt8] = []

    init(framing: Framing) { self.framing = framing }

    /// The messages completed by `bytes`, or a description of what is wrong.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Result<JSON, FramingProblem>] {
        buffer += bytes
        var out: [Result<JSON, FramingProblem>] = []
        while let next = nextMessage() { out.append(next) }
        return out
    }

    struct FramingProblem: Error, CustomStringConvertible { let description: String }

    private mutating func nextMessage() -> Result<JSON, FramingProblem>? {
        switch framing {
        case .lines:
            guard let newline = buffer.firstIndex(of: 0x0A) else { return nil }
            let line = Array(buffer[..<newline])
            buffer.removeFirst(newline + 1)
            return parse(line)
        case .headers:
            let separator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
            guard let end = buffer.indices.dropLast(3).first(where: { Array(buffer[$0..<($0 + 4)]) == separator }) else {
                return nil
            }
            let header = String(decoding: buffer[..<end], as: UTF8.self)
            var length: Int?
            for line in header.components(separatedBy: "\r\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    buffer.removeAll()
                    return .failure(FramingProblem(description: "a header line that is not `Name: value`: \(line.debugDescription)"))
                }
                if parts[0].lowercased() == "content-length" {
                    guard length == nil, let n = Int(parts[1]), n >= 0, parts[1].allSatisfy(\.isNumber) else {
                        buffer.removeAll()
                        return .failure(FramingProblem(description: "a bad or repeated Content-Length: \(header.debugDescription)"))
                    }
                    length = n
                }
            }
            guard let length else {
                buffer.removeAll()
                return .failure(FramingProblem(description: "headers without Content-Length: \(header.debugDescription)"))
            }
            let start = end + 4
            guard buffer.count >= start + length else { return nil }
            let body = Array(buffer[start..<(start + length)])
            buffer.removeFirst(start + length)
            return parse(body)
        }
    }

    private func parse(_ bytes: [UInt8]) -> Result<JSON, FramingProblem> {
        do { return .success(try JSON.parse(bytes)) } catch {
            return .failure(FramingProblem(description: "a body that is not JSON (\(error)): \(String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription)"))
        }
    }
}
