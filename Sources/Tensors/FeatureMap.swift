/// A batch of feature maps stored channel-major: [channels][batch][height][width].
///
/// With channels outermost, a 1×1 convolution over the whole batch is one GEMM
/// (weights [Cout × Cin] times data [Cin × batch·H·W]), and every (channel, image)
/// plane is contiguous for depthwise kernels.
public struct FeatureMap: Sendable, Equatable {
    public var channels: Int
    public var batch: Int
    public var height: Int
    public var width: Int
    public var data: [Float]

    public init(channels: Int, batch: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == channels * batch * height * width,
                     "feature map \(channels)×\(batch)×\(height)×\(width) needs \(channels * batch * height * width) values, got \(data.count)")
        self.channels = channels
        self.batch = batch
        self.height = height
        self.width = width
        self.data = data
    }

    public init(zeros channels: Int, batch: Int, height: Int, width: Int) {
        self.init(channels: channels, batch: batch, height: height, width: width,
                  data: [Float](repeating: 0, count: channels * batch * height * width))
    }

    public var plane: Int { height * width }
    /// Columns of the [channels × columns] matrix view.
    public var columns: Int { batch * height * width }
    public var count: Int { data.count }

    /// From images laid out [batch][channels][H][W] (PyTorch's NCHW).
    public init(nchw: [Float], batch: Int, channels: Int, height: Int, width: Int) {
        let plane = height * width
        var out = [Float](repeating: 0, count: nchw.count)
        for n in 0..<batch {
            for c in 0..<channels {
                let src = (n * channels + c) * plane, dst = (c * batch + n) * plane
                for i in 0..<plane { out[dst + i] = nchw[src + i] }
            }
        }
        self.init(channels: channels, batch: batch, height: height, width: width, data: out)
    }

    /// Back to [batch][channels][H][W].
    public func nchw() -> [Float] {
        var out = [Float](repeating: 0, count: data.count)
        for n in 0..<batch {
            for c in 0..<channels {
                let dst = (n * channels + c) * plane, src = (c * batch + n) * plane
                for i in 0..<plane { out[dst + i] = data[src + i] }
            }
        }
        return out
    }

    /// The values of image `n`, as [channels][H][W].
    public func image(_ n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: channels * plane)
        for c in 0..<channels {
            let src = (c * batch + n) * plane
            for i in 0..<plane { out[c * plane + i] = data[src + i] }
        }
        return out
    }
}

/// Zero padding on each side, TensorFlow "SAME" style when asymmetric.
public struct Padding: Sendable, Equatable {
    public var top: Int, left: Int, bottom: Int, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }
    public init(_ p: Int) { self.init(top: p, left: p, bottom: p, right: p) }

    /// TensorFlow's SAME padding for an input of `size`, kernel `k`, stride `s`, dilation `d`
    /// (extra padding goes after, i.e. bottom/right).
    public static func same(height: Int, width: Int, kernel k: Int, stride s: Int, dilation d: Int = 1) -> Padding {
        func total(_ n: Int) -> Int {
            let out = (n + s - 1) / s
            return max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        }
        let th = total(height), tw = total(width)
        return Padding(top: th / 2, left: tw / 2, bottom: th - th / 2, right: tw - tw / 2)
    }
}

extension FeatureMap {
    /// Images `range` of the batch, as a batch of their own.
    public func images(_ range: Range<Int>) -> FeatureMap {
        precondition(range.lowerBound >= 0 && range.upperBound <= batch, "images \(range) of a batch of \(batch)")
        if range == 0..<batch { return self }
        let plane = self.plane, n = range.count
        if channels * n * plane == 0 { return FeatureMap(zeros: channels, batch: n, height: height, width: width) }
        let out = [Float](unsafeUninitializedCapacity: channels * n * plane) { buffer, count in
            data.withUnsafeBufferPointer { src in
                for c in 0..<channels {
                    (buffer.baseAddress! + c * n * plane).initialize(
                        from: src.baseAddress! + (c * batch + range.lowerBound) * plane, count: n * plane)
                }
            }
            count = channels * n * plane
        }
        return FeatureMap(channels: channels, batch: n, height: height, width: width, data: out)
    }

    /// The batches of `parts` (same channels and size) one after another.
    public init(joining parts: [FeatureMap]) {
        precondition(!parts.isEmpty, "nothing to join")
        if parts.count == 1 { self = parts[0]; return }
        let first = parts[0]
        precondition(parts.allSatisfy { $0.channels == first.channels && $0.height == first.height && $0.width == first.width },
                     "joined feature maps differ in shape")
        let batch = parts.reduce(0) { $0 + $1.batch }, plane = first.plane, channels = first.channels
        if channels * batch * plane == 0 { self.init(zeros: channels, batch: batch, height: first.height, width: first.width); return }
        let data = [Float](unsafeUninitializedCapacity: channels * batch * plane) { buffer, count in
            var offset = 0
            for part in parts {
                part.data.withUnsafeBufferPointer { src in
                    for c in 0..<channels {
                        (buffer.baseAddress! + (c * batch + offset) * plane).initialize(
                            from: src.baseAddress! + c * part.batch * plane, count: part.batch * plane)
                    }
                }
                offset += part.batch
            }
            count = channels * batch * plane
        }
        self.init(channels: channels, batch: batch, height: first.height, width: first.width, data: data)
    }

    /// A map whose values are all about to be overwritten (skips zeroing).
    public init(uninitialized channels: Int, batch: Int, height: Int, width: Int) {
        let n = channels * batch * height * width
        self.init(channels: channels, batch: batch, height: height, width: width, data: [Float](unspecified: n))
    }
}

extension Array where Element == Float {
    /// `count` floats whose values are about to be overwritten in full: skips the zeroing
    /// (about 1 % of a CLIP step when every activation was zeroed first).
    @inlinable
    public init(unspecified count: Int) {
        self.init(unsafeUninitializedCapacity: count) { _, initialised in initialised = count }
    }
}
