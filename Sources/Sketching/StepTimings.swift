import Foundation

/// Seconds spent in each phase of a part's optimisation steps, summed over the steps taken.
public struct StepTimings: Sendable, Equatable {
    /// In step order (docs/algorithm.md §2): the points MLP, widths and rasteriser; the warped
    /// and normalised views; the encoder's forward passes; the feature loss; everything back
    /// to the MLPs and their Adam updates (encoder backward, warps, rasteriser backward, GradNorm).
    public static let phases = ["strokes", "views", "encode", "loss", "gradients"]
    public private(set) var seconds: [String: Double] = [:]
    public private(set) var steps = 0

    public init() {}

    /// Adds the time since `start` (uptime nanoseconds) to `phase`; returns now, the next start.
    mutating func record(_ phase: String, since start: UInt64) -> UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[phase, default: 0] += Double(now &- start) / 1e9
        return now
    }

    mutating func countStep() { steps += 1 }
}
