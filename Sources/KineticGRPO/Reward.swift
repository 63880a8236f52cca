import NeoTensor
import Vocal

/// What GRPO needs from a reward: one score per candidate for final motion latents, higher is
/// better. Scores are computed without a tape.
public protocol MotionReward: AnyObject {
    /// Shown in logs and errors.
    var name: String { get }
    /// The latent width the reward reads, or nil when it reads any width.
    var latentDim: Int? { get }
    /// Scores `[B]` of motion `[B, N, D]` generated under `conditions` (batch B, N frames).
    func score(motion: Tensor, conditions: VocalConditions) throws -> [Float]
}

extension MotionReward {
    /// Throws when the reward cannot read latents of width `dim` (a reward built for another
    /// latent layout than the policy's).
    public func checkCompatible(latentDim dim: Int) throws(GRPOError) {
        if let own = latentDim, own != dim {
            throw GRPOError("reward '\(name)' was built for latents of width \(own), the policy generates width \(dim)")
        }
    }
}

/// reward = −mean over the N·D numbers of (x − target)², a fixed target value for every number
/// (a toy reward with a known optimum, for tests and smoke runs).
public final class TargetReward: MotionReward {
    public let target: Float
    public let latentDim: Int?
    public var name: String { "target(\(target))" }

    public init(target: Float, latentDim: Int? = nil) {
        self.target = target
        self.latentDim = latentDim
    }

    public func score(motion: Tensor, conditions: VocalConditions) throws -> [Float] {
        guard motion.rank == 3 else { throw GRPOError("reward '\(name)': motion must be [B, N, D], got \(motion.shape)") }
        if let latentDim, motion.shape[2] != latentDim {
            throw GRPOError("reward '\(name)': motion of width \(motion.shape[2]), built for \(latentDim)")
        }
        return noGrad { (-(motion - target).square().mean(axes: [1, 2])).contiguous().toArray() }
    }
}

/// reward = mean lip opening over the frames (`MotionMetrics.lipOpening`): a toy reward that a
/// policy can raise by opening the mouth wider, in the latent layout of `geometry`.
public final class LipOpeningReward: MotionReward {
    public let geometry: LipGeometry
    /// The layout's latent width (the keypoints of the geometry must lie inside it).
    public let latentDim: Int?
    public var name: String { "lip-opening" }

    public init(geometry: LipGeometry = .synthetic, latentDim: Int = 70) throws(GRPOError) {
        let needed = 3 * ((geometry.upper + geometry.lower).max() ?? 0) + geometry.axis + 1
        guard latentDim >= needed else {
            throw GRPOError("reward 'lip-opening': the lip keypoints need latents of width ≥ \(needed), got \(latentDim)")
        }
        self.geometry = geometry
        self.latentDim = latentDim
    }

    public func score(motion: Tensor, conditions: VocalConditions) throws -> [Float] {
        guard motion.rank == 3, motion.shape[2] == latentDim else {
            throw GRPOError("reward 'lip-opening': motion must be [B, N, \(latentDim!)], got \(motion.shape)")
        }
        let b = motion.shape[0], n = motion.shape[1], d = motion.shape[2]
        let values = motion.contiguous().toArray()
        return (0..<b).map { i in
            let clip = MotionClip(values: Array(values[(i * n * d)..<((i + 1) * n * d)]), frames: n, dim: d)
            let opening = MotionMetrics.lipOpening(clip, geometry: geometry)
            return opening.isEmpty ? 0 : opening.reduce(0, +) / Float(opening.count)
        }
    }
}
