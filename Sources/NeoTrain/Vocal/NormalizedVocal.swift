import NeoNN
import NeoTensor
import Vocal

/// A VOCAL model that works on per-dimension standardised motion.
///
/// Motion latents mix very different scales (keypoint offsets of a few thousandths of a face,
/// head angles of several degrees); flow matching against unit Gaussian noise would spend its
/// loss on the large dimensions and barely see the lips. So every motion-valued input and
/// output (the clean window, the prefix, the identity reference clip, the reference frame) is
/// standardised with the mean and standard deviation of the training split, per dimension, and
/// samples are mapped back. The statistics are frozen parameters (`motionMean`,
/// `motionScale`), so checkpoints carry them and a sampler reads them back with the weights.
///
/// Parameter paths: `vocal.*` (the `VocalModel`), `motionMean`, `motionScale`.
public final class NormalizedVocal: Module {
    public let vocal: VocalModel
    /// `[D]` mean of the training motion.
    public let motionMean: Parameter
    /// `[D]` standard deviation of the training motion (1 where a dimension is constant).
    public let motionScale: Parameter

    public init(config: VocalConfig, generator: Generator, mean: [Float]? = nil, scale: [Float]? = nil) throws {
        vocal = try VocalModel(config: config, generator: generator)
        let d = config.latentDim
        motionMean = Parameter(Tensor(mean ?? [Float](repeating: 0, count: d), shape: [d]), frozen: true)
        motionScale = Parameter(Tensor(scale ?? [Float](repeating: 1, count: d), shape: [d]), frozen: true)
    }

    public var config: VocalConfig { vocal.config }

    /// (x − mean) / scale over the last dimension (no gradient: data, not weights).
    public func normalize(_ x: Tensor) -> Tensor {
        noGrad { ((x - motionMean.value) / motionScale.value).contiguous() }
    }

    /// x · scale + mean over the last dimension.
    public func denormalize(_ x: Tensor) -> Tensor {
        noGrad { (x * motionScale.value + motionMean.value).contiguous() }
    }

    /// The batch with every motion-valued tensor standardised.
    public func normalized(_ b: VocalBatch) -> VocalBatch {
        var c = b.conditions
        c.identity = c.identity.map(normalize)
        c.reference = c.reference.map(normalize)
        c.prefix = c.prefix.map(normalize)
        return VocalBatch(motion: normalize(b.motion), conditions: c)
    }

    /// A whole clip in motion units: identity clip and reference frame are standardised, the
    /// sample is mapped back (see `VocalSampler.sampleLong`).
    public func sampleLong(settings: SamplingSettings, audio: Tensor, identity: Tensor?, emotion: [Int]?, reference: Tensor?,
                           generator: Generator) throws -> Tensor {
        let sampler = VocalSampler(model: vocal, settings: settings)
        let x = try sampler.sampleLong(audio: audio, identity: identity.map(normalize), emotion: emotion,
                                       reference: reference.map(normalize), generator: generator)
        return denormalize(x)
    }

    /// Per-dimension mean and standard deviation of motion frames given as row-major `[T, D]`
    /// arrays, the deviation floored at `floor`. The floor matters for dimensions that hardly
    /// move within the training speakers (a keypoint coordinate each speaker holds still):
    /// divided by a near-zero deviation, another speaker's constant would become huge. 1e-3 is
    /// well below the deviations of moving dimensions in both the synthetic performer's face
    /// units and LivePortrait's.
    public static func statistics(_ clips: [[Float]], dim: Int, floor: Double = 1e-3) -> (mean: [Float], scale: [Float]) {
        var sum = [Double](repeating: 0, count: dim), sq = [Double](repeating: 0, count: dim)
        var n = 0
        for m in clips {
            let frames = m.count / dim
            for t in 0..<frames {
                for j in 0..<dim { let v = Double(m[t * dim + j]); sum[j] += v; sq[j] += v * v }
            }
            n += frames
        }
        guard n > 0 else { return ([Float](repeating: 0, count: dim), [Float](repeating: 1, count: dim)) }
        let mean = sum.map { $0 / Double(n) }
        let scale = (0..<dim).map { j -> Float in
            let variance = Swift.max(0, sq[j] / Double(n) - mean[j] * mean[j])
            let s = variance.squareRoot()
            return Float(Swift.max(s, floor))
        }
        return (mean.map { Float($0) }, scale)
    }
}
