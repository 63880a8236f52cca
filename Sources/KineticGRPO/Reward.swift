import NeoTensor
import RewardModel
import Vocal

/// What a reward may read besides the motion: the conditions the candidates were generated
/// under (batch B) and, when the reward reads audio features of another format than VOCAL's
/// (another encoder), those features `[B, L, 2N, W]`.
public struct RewardContext: @unchecked Sendable {
    public let conditions: VocalConditions
    public let rewardAudio: Tensor?
    public init(conditions: VocalConditions, rewardAudio: Tensor? = nil) {
        self.conditions = conditions
        self.rewardAudio = rewardAudio
    }
}

/// What GRPO needs from a reward: one score per candidate for final motion latents, higher is
/// better. Scores are computed without a tape.
public protocol MotionReward: AnyObject {
    /// Shown in logs and errors.
    var name: String { get }
    /// The latent width the reward reads, or nil when it reads any width.
    var latentDim: Int? { get }
    /// The audio features it reads, (layers, width), when they are not VOCAL's conditions' own:
    /// clips must then carry `rewardAudio` of that format. Nil: none or VOCAL's.
    var audioFormat: (layers: Int, width: Int)? { get }
    /// Scores `[B]` of motion `[B, N, D]`.
    func score(motion: Tensor, context: RewardContext) throws -> [Float]
}

extension MotionReward {
    public var audioFormat: (layers: Int, width: Int)? { nil }

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

    public func score(motion: Tensor, context: RewardContext) throws -> [Float] {
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

    public func score(motion: Tensor, context: RewardContext) throws -> [Float] {
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

/// The learned reward model (`RewardTransformer`): one of its four heads (overall by default)
/// scores the motion with the clip's audio features.
public final class RewardModelScore: MotionReward {
    public let model: RewardTransformer
    public let head: RewardHead
    /// Whether the model reads VOCAL's audio hidden states as they are (same layers and width);
    /// otherwise clips must carry `rewardAudio` in the model's format.
    public let readsPolicyAudio: Bool

    /// `policyAudio`: (layers, width) of the policy's audio hidden states.
    public init(model: RewardTransformer, head: RewardHead = .overall, policyAudio: (layers: Int, width: Int)) {
        self.model = model
        self.head = head
        readsPolicyAudio = model.config.audioLayers == policyAudio.layers && model.config.audioWidth == policyAudio.width
        model.eval()
    }

    public var name: String { "reward-model(\(head.rawValue))" }
    public var latentDim: Int? { model.config.motionDim }
    public var audioFormat: (layers: Int, width: Int)? {
        readsPolicyAudio ? nil : (model.config.audioLayers, model.config.audioWidth)
    }

    public func score(motion: Tensor, context: RewardContext) throws -> [Float] {
        guard let audio = readsPolicyAudio ? context.conditions.audio : context.rewardAudio else {
            throw GRPOError("reward '\(name)': reads audio features of \(model.config.audioLayers) layers × \(model.config.audioWidth), the clips carry none in that format")
        }
        do { try model.validate(motion: motion, audio: audio) } catch {
            throw GRPOError("reward '\(name)': \(error)")
        }
        let scores = noGrad { model(motion: motion, audio: audio) }
        return scores.slice(dim: 1, start: head.column, end: head.column + 1).contiguous().toArray()
    }
}
