import NeoTensor
import Foundation

/// The learning rate for the update made at `step` (0 for the first update).
public protocol LearningRateSchedule: Sendable {
    func lr(at step: Int) -> Float
}

/// The same rate at every step.
public struct ConstantSchedule: LearningRateSchedule {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public func lr(at step: Int) -> Float { value }
}

/// Linear warm-up then cosine decay:
/// step < W: peak·(step + 1)/W; then with progress q = (step − W)/(T − W) clamped to [0, 1]:
/// minLR + (peak − minLR)·(1 + cos(π·q))/2. Steps past `totalSteps` stay at `minLR`.
public struct WarmupCosineSchedule: LearningRateSchedule {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let minLR: Float
    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minLR: Float = 0) {
        ensure(warmupSteps >= 0 && totalSteps >= warmupSteps, "WarmupCosineSchedule: need 0 ≤ warmupSteps ≤ totalSteps")
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.minLR = minLR
    }
    public func lr(at step: Int) -> Float {
        if step < warmupSteps { return Float(Double(peak) * Double(step + 1) / Double(warmupSteps)) }
        let q = decayProgress(step, warmupSteps, totalSteps)
        return Float(Double(minLR) + (Double(peak) - Double(minLR)) * 0.5 * (1 + cos(Double.pi * q)))
    }
}

/// Linear warm-up then linear decay to `endLR` at `totalSteps` (same warm-up and progress as
/// `WarmupCosineSchedule`).
public struct WarmupLinearSchedule: LearningRateSchedule {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let endLR: Float
    public init(peak: Float, warmupSteps: Int, totalSteps: Int, endLR: Float = 0) {
        ensure(warmupSteps >= 0 && totalSteps >= warmupSteps, "WarmupLinearSchedule: need 0 ≤ warmupSteps ≤ totalSteps")
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.endLR = endLR
    }
    public func lr(at step: Int) -> Float {
        if step < warmupSteps { return Float(Double(peak) * Double(step + 1) / Double(warmupSteps)) }
        let q = decayProgress(step, warmupSteps, totalSteps)
        return Float(Double(peak) + (Double(endLR) - Double(peak)) * q)
    }
}

/// Fraction of the decay phase completed at `step`, in [0, 1].
func decayProgress(_ step: Int, _ warmup: Int, _ total: Int) -> Double {
    let span = total - warmup
    if span <= 0 { return 1 }
    return min(1, max(0, Double(step - warmup) / Double(span)))
}
