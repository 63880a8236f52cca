import Foundation
import KineticGRPO
import NeoData
import NeoTensor
import Vocal

/// Where a GRPO run's clips come from: conditions in the policy's network space (batch 1).
public protocol GRPOClipSource: AnyObject {
    /// Clips in the training pool.
    var trainCount: Int { get }
    /// Clip `index` of the training pool (the same every time).
    func clip(_ index: Int) throws -> GRPOClip
    /// The held-out clips (the same every time).
    func evaluationClips() throws -> [GRPOEvaluationClip]
    /// The lip keypoints of the motion layout (for the lip-sync metric).
    var geometry: LipGeometry { get }
    /// One line for the run's log.
    var summary: String { get }
}

extension GRPOClipSource {
    /// The training clips of `iteration`: `count` distinct clips of the pool drawn from a
    /// generator derived from the seed and the iteration (fewer when the pool is smaller).
    public func trainingClips(iteration: Int, seed: Int, count: Int) throws -> [GRPOClip] {
        let g = Generator.stream(seed: seed, "grpo-clip-order").derived(UInt64(iteration))
        var order = Array(0..<trainCount)
        let n = Swift.min(count, trainCount)
        for i in 0..<n {
            let j = i + g.nextInt(trainCount - i)
            order.swapAt(i, j)
        }
        return try order.prefix(n).map(clip)
    }
}

/// The clips a GRPO run rolls out and evaluates on. Clip i is the same every time it is asked
/// for (its tensors come from generators derived from the run seed and i), so nothing about the
/// data needs checkpointing.
public final class GRPOClipPool: GRPOClipSource {
    public let config: VocalConfig
    public let frames: Int
    public let trainCount: Int
    public let evalCount: Int
    public let seed: Int
    /// (layers, width) of the audio features the reward reads when they are not VOCAL's.
    public let rewardAudio: (layers: Int, width: Int)?

    public init(config: VocalConfig, data: GRPODataSection, seed: Int, rewardAudio: (layers: Int, width: Int)? = nil) {
        self.rewardAudio = rewardAudio
        self.config = config
        frames = data.frames > 0 ? data.frames : config.windowFrames
        trainCount = data.trainClips
        evalCount = data.evalClips
        self.seed = seed
    }

    /// Synthetic clip `index`: audio hidden states ~ N(0, 1) `[1, L, 2N, W]`, an identity clip of
    /// 8 frames ~ N(0, 0.5²), an emotion label and the identity clip's first frame as reference;
    /// for a reward that reads another audio format, features ~ N(0, 1) in that format (from a
    /// stream of their own, so the VOCAL conditions do not depend on the reward).
    public func clip(_ index: Int) -> GRPOClip {
        let g = Generator.stream(seed: seed, "grpo-clips").derived(UInt64(index))
        let d = config.latentDim
        let audio = Tensor.normal([1, config.audioLayers, 2 * frames, config.audioWidth], generator: g)
        let identity = Tensor.normal([1, 8, d], std: 0.5, generator: g)
        let reference = identity.slice(dim: 1, start: 0, end: 1).reshape([1, d]).contiguous()
        let conditions = VocalConditions(audio: audio, identity: identity, emotion: [g.nextInt(config.emotionCount)],
                                         reference: reference)
        let extra = rewardAudio.map { format in
            Tensor.normal([1, format.layers, 2 * frames, format.width],
                          generator: Generator.stream(seed: seed, "grpo-reward-audio").derived(UInt64(index)))
        }
        return GRPOClip(index: index, conditions: conditions, rewardAudio: extra)
    }

    /// The training clips of `iteration` (see `GRPOClipSource.trainingClips`).
    public func trainingClips(iteration: Int, count: Int) -> [GRPOClip] {
        // The pool's clips cannot fail.
        (try? trainingClips(iteration: iteration, seed: seed, count: count)) ?? []
    }

    /// The held-out clips (indices after the training pool).
    public var heldOutClips: [GRPOClip] { (trainCount..<(trainCount + evalCount)).map(clip) }
    public func evaluationClips() throws -> [GRPOEvaluationClip] { heldOutClips.map { GRPOEvaluationClip(clip: $0) } }
    public var geometry: LipGeometry { .synthetic }
    public var summary: String { "\(trainCount) synthetic training clips, \(evalCount) held out" }
}
