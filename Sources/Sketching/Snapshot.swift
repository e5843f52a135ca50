import Foundation
import Models
import Vector
import Tensors

/// A compact binary container: a JSON header for the small things and raw little-endian
/// float32 blobs for the big ones (MLP weights and Adam moments are millions of numbers).
///
/// Version 2 layout (all integers little-endian):
///   "CLPSNAP2" | UInt32 header length | UInt32 CRC-32 of every byte after these 16 |
///   header JSON | blobs, each a UInt64 count then count × float32.
/// Version 1 ("CLPSNAP1") is the same without the checksum field; it is still read.
/// Every count and length is checked against the bytes that remain before anything is
/// allocated, so a damaged or hostile file is an error, never a crash.
struct SnapshotArchive {
    static let magic = Array("CLPSNAP2".utf8)
    static let version1Magic = Array("CLPSNAP1".utf8)
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
        guard let headerLength = UInt32(exactly: json.count) else { throw SnapshotError("the snapshot header is too large") }
        var data = Data(Self.magic)
        data.reserveCapacity(16 + json.count + blobs.reduce(0) { $0 + 8 + 4 * $1.count })
        appendLittleEndian(headerLength, to: &data)
        appendLittleEndian(UInt32(0), to: &data)  // the checksum, filled in below
        data.append(json)
        for blob in blobs {
            appendLittleEndian(UInt64(blob.count), to: &data)
            blob.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        let checksum = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[16...])) }
        data.replaceSubrange(12..<16, with: withUnsafeBytes(of: checksum.littleEndian) { Data($0) })
        return data
    }

    static func decode<H: Decodable>(_ data: Data, as: H.Type) throws -> (H, [[Float]]) {
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 12 else { throw SnapshotError("not a clipascene snapshot (only \(bytes.count) bytes)") }
            let head = Array(bytes[0..<8])
            let headerStart: Int
            if head == magic {
                guard bytes.count >= 16 else { throw SnapshotError("the snapshot is cut short in its preamble") }
                let stored = readUInt32(bytes, at: 12)
                let actual = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[16...]))
                guard stored == actual else {
                    throw SnapshotError(String(format: "the snapshot is damaged: its checksum is %08x, its contents give %08x", stored, actual))
                }
                headerStart = 16
            } else if head == version1Magic {
                headerStart = 12
            } else {
                throw SnapshotError("not a clipascene snapshot (it does not start with CLPSNAP)")
            }
            let length = Int(readUInt32(bytes, at: 8))
            guard length <= bytes.count - headerStart else {
                throw SnapshotError("the snapshot header claims \(length) bytes; only \(bytes.count - headerStart) follow")
            }
            let header: H
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            do { header = try decoder.decode(H.self, from: Data(bytes[headerStart..<(headerStart + length)])) } catch {
                throw SnapshotError("the snapshot header is unreadable (\(error))")
            }
            var blobs: [[Float]] = []
            var p = headerStart + length
            while p < bytes.count {
                guard bytes.count - p >= 8 else { throw SnapshotError("the snapshot is cut short in the length of array \(blobs.count)") }
                var count: UInt64 = 0
                for i in 0..<8 { count |= UInt64(bytes[p + i]) << (8 * UInt64(i)) }
                p += 8
                // Compared as counts of floats, so no product can overflow.
                let remaining = (bytes.count - p) / 4
                guard count <= UInt64(remaining) else {
                    throw SnapshotError("array \(blobs.count) of the snapshot claims \(count) numbers; only \(remaining) remain")
                }
                let n = Int(count)
                let blob = [Float](unsafeUninitializedCapacity: n) { buffer, initialised in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[p..<(p + 4 * n)]))
                    initialised = n
                }
                blobs.append(blob)
                p += 4 * n
            }
            return (header, blobs)
        }
    }

    private static func readUInt32(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }

    private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
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
        /// The level's selection state (absent in snapshots from before there was one).
        var lastKeepProbability: Float?, evaluations: [LevelEvaluation]?, selected: [Stroke]?
        /// The width network's input, the half width when simplification began (absent in
        /// snapshots from before a width change could continue a run: the current half width).
        var inputHalfWidth: Float?
    }
    var parameters: Int
    var adam: AdamHeader
    var rng: SeededRandom
    var step: Int
    var lastLoss: Float, bestLoss: Float, lastTotalLoss: Float
    var bestStrokes: [Stroke]
    var lastBlockLosses: [Float]?
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
                         onCanvas: s.onCanvas, ratio: s.ratio, lastWidthLoss: s.lastWidthLoss,
                         lastKeepProbability: s.lastKeepProbability, evaluations: s.evaluations, selected: s.selected,
                         inputHalfWidth: s.input.first)
        }
        return PartStateHeader(parameters: archive.add(mlp.parameters), adam: adamHeader(adam, &archive), rng: rng,
                               step: step, lastLoss: lastLoss, bestLoss: bestLoss, lastTotalLoss: lastTotalLoss,
                               bestStrokes: bestStrokes, lastBlockLosses: lastBlockLosses, simplicity: simp)
    }

    /// Checks everything `loadState` would trust: blob indices and sizes, finite numbers,
    /// strokes shaped like this part's, counts that fit the schedule.
    func validate(_ h: PartStateHeader, blobs: [[Float]], allowSimplicity: Bool = true) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw SnapshotError("the snapshot \(what)") } }
        func checkBlob(_ i: Int, count: Int?, _ name: String) throws {
            try check(blobs.indices.contains(i), "refers to a missing array for the \(name)")
            if let count { try check(blobs[i].count == count, "has \(blobs[i].count) numbers for the \(name); this sketch needs \(count)") }
            try check(blobs[i].allSatisfy(\.isFinite), "has a number that is not finite in the \(name)")
        }
        func checkAdam(_ a: PartStateHeader.AdamHeader, count: Int?, _ name: String) throws {
            try check(a.step >= 0 && a.step <= Abstraction.maximumTotalSteps, "has an optimiser step count of \(a.step)")
            try check([a.learningRate, a.beta1, a.beta2, a.epsilon].allSatisfy { $0.isFinite && $0 >= 0 }
                      && a.beta1 < 1 && a.beta2 < 1, "has optimiser settings out of range")
            try checkBlob(a.m, count: count, "\(name) optimiser's first moments")
            try checkBlob(a.v, count: count, "\(name) optimiser's second moments")
        }
        let n = mlp.parameters.count
        try checkBlob(h.parameters, count: n, "points network")
        try checkAdam(h.adam, count: n, "points")
        try check(h.step >= 0 && h.step <= Abstraction.maximumTotalSteps, "has a step count of \(h.step)")
        try check(h.bestStrokes.count == initialStrokes.count,
                  "has \(h.bestStrokes.count) strokes; this sketch has \(initialStrokes.count)")
        for (saved, initial) in zip(h.bestStrokes, initialStrokes) {
            try check(saved.points.count == initial.points.count && saved.isFinite && saved.halfWidth >= 0,
                      "has a stroke that is not drawable")
        }
        try check((h.lastBlockLosses?.count ?? 0) <= 64, "has \(h.lastBlockLosses?.count ?? 0) block losses")
        guard let s = h.simplicity else { return }
        try check(allowSimplicity, "has simplicity state where the fidelity phase ended")
        try checkBlob(s.parameters, count: nil, "width network")
        try checkAdam(s.adam, count: blobs[s.parameters].count, "width")
        try check(s.onCanvas.count == initialStrokes.count && s.onCanvas.allSatisfy { $0 == 0 || $0 == 1 },
                  "has an on-canvas list that does not fit its strokes")
        try check(s.ratio.isFinite && s.lastWidthLoss.isFinite && (s.lastKeepProbability ?? 0).isFinite,
                  "has a simplicity ratio that is not finite")
        try check(s.inputHalfWidth.map { $0.isFinite && $0 > 0 && $0 <= Abstraction.maximumStrokeWidth } ?? true,
                  "has a width network input out of range")
        // A level's selection: at most its evaluations, each a loss per series and a drawing of this part's strokes.
        func checkDrawing(_ drawing: [Stroke]) throws {
            try check(drawing.count <= initialStrokes.count
                      && drawing.allSatisfy { $0.points.count == initialStrokes[0].points.count && $0.isFinite && $0.halfWidth >= 0 },
                      "has a selected drawing that does not fit this sketch")
        }
        let evaluations = s.evaluations ?? []
        try check(evaluations.count <= LevelSelection.evaluationsPerLevel, "has \(evaluations.count) evaluations in one level")
        for e in evaluations {
            try check(e.losses.count <= 64 && e.losses.allSatisfy(\.isFinite), "has an evaluation whose losses are not finite")
            try checkDrawing(e.drawing)
        }
        if let selected = s.selected { try checkDrawing(selected) }
    }

    func loadState(_ h: PartStateHeader, blobs: [[Float]]) throws {
        try validate(h, blobs: blobs)
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
        // Kept at the base width: the state saved when the fidelity phase ended may predate a width change.
        bestStrokes = h.bestStrokes.atHalfWidth(settings.halfWidth)
        lastBlockLosses = (h.lastBlockLosses ?? []).filter(\.isFinite)
        if let s = h.simplicity {
            beginSimplicity(ratio: s.ratio, inputHalfWidth: s.inputHalfWidth)
            guard var simp = simplicity else { return }
            let count = simp.mlp.parameters.count
            simp.mlp.parameters = try blob(s.parameters, count: count)
            simp.adam = try restoredAdam(s.adam, count: count)
            simp.lastWidthLoss = s.lastWidthLoss
            simplicity = Simplicity(mlp: simp.mlp, adam: simp.adam, input: simp.input, onCanvas: s.onCanvas,
                                    ratio: s.ratio, lastWidthLoss: s.lastWidthLoss, lastKeepProbability: s.lastKeepProbability ?? 1,
                                    evaluations: s.evaluations ?? [], selected: s.selected)
        } else {
            simplicity = nil
        }
    }
}
