import Foundation
import Models
import Vector

/// A compact binary container: a JSON header for the small things and raw little-endian
/// float32 blobs for the big ones (MLP weights and Adam moments are millions of numbers).
/// Layout: "CLPSNAP1", UInt32 header length, header JSON, then the blobs back to back.
struct SnapshotArchive {
    static let magic = Array("CLPSNAP1".utf8)
    var blobs: [[Float]] = []

    mutating func add(_ values: [Float]) -> Int {
        blobs.append(values)
        return blobs.count - 1
    }

    func encode<H: Encodable>(header: H) throws -> Data {
        let encoder = JSONEncoder()
        // Losses are infinite before the first step.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let json = try encoder.encode(header)
        var data = Data(Self.magic)
        data.reserveCapacity(12 + json.count + blobs.reduce(0) { $0 + 8 + 4 * $1.count })
        var length = UInt32(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        for blob in blobs {
            var count = UInt64(blob.count).littleEndian
            withUnsafeBytes(of: &count) { data.append(contentsOf: $0) }
            blob.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    static func decode<H: Decodable>(_ data: Data, as: H.Type) throws -> (H, [[Float]]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw SnapshotError("not a clipascene snapshot") }
        let length = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard 12 + length <= bytes.count else { throw SnapshotError("snapshot header is cut short") }
        let header: H
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { header = try decoder.decode(H.self, from: Data(bytes[12..<(12 + length)])) } catch {
            throw SnapshotError("snapshot header is unreadable (\(error))")
        }
        var blobs: [[Float]] = []
        var p = 12 + length
        while p < bytes.count {
            guard p + 8 <= bytes.count else { throw SnapshotError("snapshot is cut short") }
            var count = 0
            for i in 0..<8 { count |= Int(bytes[p + i]) << (8 * i) }
            p += 8
            guard count >= 0, p + 4 * count <= bytes.count else { throw SnapshotError("snapshot is cut short") }
            var blob = [Float](repeating: 0, count: count)
            blob.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[p..<(p + 4 * count)])) } }
            blobs.append(blob)
            p += 4 * count
        }
        return (header, blobs)
    }
}

public struct SnapshotError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// The mutable state of one part, with its big arrays stored as blob indices.
struct PartStateHeader: Codable {
    struct AdamHeader: Codable {
        var learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, step: Int, m: Int, v: Int
    }
    struct SimplicityHeader: Codable {
        var parameters: Int, adam: AdamHeader, onCanvas: [Float], ratio: Float, lastWidthLoss: Float
    }
    var parameters: Int
    var adam: AdamHeader
    var rng: SeededRandom
    var step: Int
    var lastLoss: Float, bestLoss: Float, lastTotalLoss: Float
    var bestStrokes: [Stroke]
    var simplicity: SimplicityHeader?

    /// The same state with every blob index moved by `offset` (to append it to another archive).
    func shiftingBlobs(by offset: Int) -> PartStateHeader {
        func shift(_ a: AdamHeader) -> AdamHeader {
            var a = a
            a.m += offset
            a.v += offset
            return a
        }
        var h = self
        h.parameters += offset
        h.adam = shift(adam)
        if var s = simplicity {
            s.parameters += offset
            s.adam = shift(s.adam)
            h.simplicity = s
        }
        return h
    }
}

extension PartSketcher {
    func saveState(into archive: inout SnapshotArchive) -> PartStateHeader {
        func adamHeader(_ a: Adam, _ archive: inout SnapshotArchive) -> PartStateHeader.AdamHeader {
            .init(learningRate: a.learningRate, beta1: a.beta1, beta2: a.beta2, epsilon: a.epsilon, step: a.step,
                  m: archive.add(a.m), v: archive.add(a.v))
        }
        var simp: PartStateHeader.SimplicityHeader? = nil
        if let s = simplicity {
            simp = .init(parameters: archive.add(s.mlp.parameters), adam: adamHeader(s.adam, &archive),
                         onCanvas: s.onCanvas, ratio: s.ratio, lastWidthLoss: s.lastWidthLoss)
        }
        return PartStateHeader(parameters: archive.add(mlp.parameters), adam: adamHeader(adam, &archive), rng: rng,
                               step: step, lastLoss: lastLoss, bestLoss: bestLoss, lastTotalLoss: lastTotalLoss,
                               bestStrokes: bestStrokes, simplicity: simp)
    }

    func loadState(_ h: PartStateHeader, blobs: [[Float]]) throws {
        func blob(_ i: Int, count: Int) throws -> [Float] {
            guard blobs.indices.contains(i), blobs[i].count == count else {
                throw SnapshotError("snapshot does not match this sketch (a saved array has the wrong size)")
            }
            return blobs[i]
        }
        func restoredAdam(_ a: PartStateHeader.AdamHeader, count: Int) throws -> Adam {
            Adam(learningRate: a.learningRate, beta1: a.beta1, beta2: a.beta2, epsilon: a.epsilon, step: a.step,
                 m: try blob(a.m, count: count), v: try blob(a.v, count: count))
        }
        let n = mlp.parameters.count
        mlp.parameters = try blob(h.parameters, count: n)
        adam = try restoredAdam(h.adam, count: n)
        rng = h.rng
        step = h.step
        lastLoss = h.lastLoss
        bestLoss = h.bestLoss
        lastTotalLoss = h.lastTotalLoss
        bestStrokes = h.bestStrokes
        if let s = h.simplicity {
            beginSimplicity(ratio: s.ratio)
            guard var simp = simplicity else { return }
            let count = simp.mlp.parameters.count
            simp.mlp.parameters = try blob(s.parameters, count: count)
            simp.adam = try restoredAdam(s.adam, count: count)
            simp.lastWidthLoss = s.lastWidthLoss
            simplicity = Simplicity(mlp: simp.mlp, adam: simp.adam, input: simp.input, onCanvas: s.onCanvas,
                                    ratio: s.ratio, lastWidthLoss: s.lastWidthLoss)
        } else {
            simplicity = nil
        }
    }
}
