import NeoTensor
import Vocal

/// A reward of real motion applied to the network's latents: converts them with the policy's
/// statistics (`NormalizedVocal.motion(fromNetwork:conditions:)`) before scoring. With identity
/// statistics and absolute motion (a plain VOCAL) it is the inner reward itself.
public final class NetworkSpaceReward: MotionReward {
    public let inner: MotionReward
    public let space: NormalizedVocal

    public init(_ inner: MotionReward, space: NormalizedVocal) {
        self.inner = inner
        self.space = space
    }

    public var name: String { inner.name }
    public var latentDim: Int? { inner.latentDim }
    public var audioFormat: (layers: Int, width: Int)? { inner.audioFormat }

    public func score(motion: Tensor, context: RewardContext) throws -> [Float] {
        try inner.score(motion: space.motion(fromNetwork: motion, conditions: context.conditions), context: context)
    }
}
