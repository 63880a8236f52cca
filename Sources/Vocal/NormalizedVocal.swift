import NeoNN
import NeoTensor

/// A VOCAL model that works on standardised motion, optionally relative to the reference frame.
///
/// - **Standardised.** Motion latents mix very different scales (keypoint offsets of a few
///   thousandths of a face, head angles of several degrees); flow matching against unit
///   Gaussian noise would spend its loss on the large dimensions and barely see the lips. So
///   every motion-valued input and output is standardised per dimension with statistics of the
///   training split, and samples are mapped back.
/// - **Relative** (`relative`, recipe key `vocal.relative_motion`). The window, the prefix and
///   the identity clip are taken as offsets from the reference frame r (the latent of the photo
///   to animate; in training the first frame of the speaker's reference clip), so what a speaker
///   holds still (face shape, resting pose) comes from r instead of having to be recognised from
///   the identity features, and the model learns how a face moves rather than which faces it
///   has seen. The reference token itself stays absolute. Samples are mapped back by adding r.
///
/// The statistics are frozen parameters, so checkpoints carry them: `motionMean`,
/// `motionScale` for what the network sees as motion (offsets from r when relative), and
/// `referenceMean`, `referenceScale` for absolute frames (the reference token). The network is
/// under `vocal.*`.
public final class NormalizedVocal: Module {
    public let vocal: VocalModel
    public let relative: Bool
    /// `[D]`: mean and deviation of the motion the network sees (offsets from r when relative).
    public let motionMean: Parameter
    public let motionScale: Parameter
    /// `[D]`: mean and deviation of absolute motion frames (the reference token).
    public let referenceMean: Parameter
    public let referenceScale: Parameter

    /// Statistics of a training split: of the motion the network sees, and of absolute frames.
    public struct Statistics: Sendable {
        public var motionMean: [Float], motionScale: [Float]
        public var referenceMean: [Float], referenceScale: [Float]
        public init(motionMean: [Float], motionScale: [Float], referenceMean: [Float], referenceScale: [Float]) {
            self.motionMean = motionMean; self.motionScale = motionScale
            self.referenceMean = referenceMean; self.referenceScale = referenceScale
        }
    }

    public init(config: VocalConfig, relative: Bool, generator: Generator, statistics: Statistics? = nil) throws {
        vocal = try VocalModel(config: config, generator: generator)
        self.relative = relative
        let d = config.latentDim
        func p(_ v: [Float]?, _ fill: Float) -> Parameter {
            Parameter(Tensor(v ?? [Float](repeating: fill, count: d), shape: [d]), frozen: true)
        }
        motionMean = p(statistics?.motionMean, 0)
        motionScale = p(statistics?.motionScale, 1)
        referenceMean = p(statistics?.referenceMean, 0)
        referenceScale = p(statistics?.referenceScale, 1)
    }

    public var config: VocalConfig { vocal.config }

    /// Frames `[…, T, D]` → what the network sees: (x − r − mean) / scale (r only when relative;
    /// `reference` is `[B, D]` for `x` `[B, T, D]`). No gradient: data, not weights.
    public func normalize(_ x: Tensor, reference: Tensor?) -> Tensor {
        noGrad {
            var y = x
            if relative, let r = reference { y = y - r.unsqueeze(x.rank - 2) }
            return ((y - motionMean.value) / motionScale.value).contiguous()
        }
    }

    /// The inverse of `normalize`.
    public func denormalize(_ x: Tensor, reference: Tensor?) -> Tensor {
        noGrad {
            var y = x * motionScale.value + motionMean.value
            if relative, let r = reference { y = y + r.unsqueeze(x.rank - 2) }
            return y.contiguous()
        }
    }

    /// An absolute reference frame `[B, D]` standardised for the reference token.
    public func normalizeReference(_ r: Tensor) -> Tensor {
        noGrad { ((r - referenceMean.value) / referenceScale.value).contiguous() }
    }

    /// The reference frame offsets are taken from: the given one, else (relative mode without
    /// one) the training mean frame, `[B, D]`.
    func anchor(_ reference: Tensor?, batch: Int) -> Tensor? {
        guard relative else { return nil }
        if let reference { return reference }
        return referenceMean.value.reshape([1, config.latentDim]).expand([batch, config.latentDim]).contiguous()
    }

    /// The batch as the network sees it.
    public func normalized(_ b: VocalBatch) -> VocalBatch {
        var c = b.conditions
        let r = anchor(c.reference, batch: b.batch)
        c.identity = c.identity.map { normalize($0, reference: r) }
        c.prefix = c.prefix.map { normalize($0, reference: r) }
        c.reference = c.reference.map(normalizeReference)
        return VocalBatch(motion: normalize(b.motion, reference: r), conditions: c)
    }

    /// A whole clip in motion units (`VocalSampler.sampleLong`): identity clip, reference frame
    /// and the windows' prefixes transformed, the sample mapped back.
    public func sampleLong(settings: SamplingSettings, audio: Tensor, identity: Tensor?, emotion: [Int]?, reference: Tensor?,
                           generator: Generator, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        let sampler = VocalSampler(model: vocal, settings: settings)
        let r = anchor(reference, batch: audio.shape[0])
        let x = try sampler.sampleLong(audio: audio, identity: identity.map { normalize($0, reference: r) }, emotion: emotion,
                                       reference: reference.map(normalizeReference), generator: generator, progress: progress)
        return denormalize(x, reference: r)
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
            return Float(Swift.max(variance.squareRoot(), floor))
        }
        return (mean.map { Float($0) }, scale)
    }
}

extension NormalizedVocal {
    /// Real motion `[B, N, D]` from the network's latents `x` `[B, N, D]` generated under
    /// network-space `conditions`: de-standardised, and with the absolute reference frame added
    /// back when the model is relative (the reference token's standardisation undone; the
    /// training mean frame when the conditions carry no reference, as in `sampleLong`).
    public func motion(fromNetwork x: Tensor, conditions: VocalConditions) -> Tensor {
        let reference = conditions.reference.map { r in noGrad { (r * referenceScale.value + referenceMean.value).contiguous() } }
        return denormalize(x, reference: anchor(reference, batch: x.shape[0]))
    }

    /// Network-space conditions for one window of real data: the identity clip `[B, R, D]` and
    /// the reference frame `[B, D]` (absolute) transformed as in training; audio and emotion as
    /// they are.
    public func networkConditions(audio: Tensor, identity: Tensor, emotion: [Int], reference: Tensor) -> VocalConditions {
        let r = anchor(reference, batch: reference.shape[0])
        return VocalConditions(audio: audio, identity: normalize(identity, reference: r), emotion: emotion,
                               reference: normalizeReference(reference))
    }
}
