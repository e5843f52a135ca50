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
