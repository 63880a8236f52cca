import NeoTensor
import NeoNN

/// One training batch: a source and a driving frame of the same person and clip ([N, 3, S, S],
/// RGB in [0, 1]) and, where the corpus has them, the ground-truth motions ([N, 3K+7]).
public struct PictarBatch {
    public var source: Tensor
    public var driving: Tensor
    public var drivingMotion: Tensor?
    public var sourceMotion: Tensor?
    public init(source: Tensor, driving: Tensor, drivingMotion: Tensor? = nil, sourceMotion: Tensor? = nil) {
        self.source = source; self.driving = driving; self.drivingMotion = drivingMotion; self.sourceMotion = sourceMotion
    }
}

/// A loss a user adds with weights we cannot ship: a perceptual loss (VGG-19 feature distances
/// over an image pyramid) or an identity loss (1 − cosine of ArcFace embeddings of rendered and
/// driving face). `generatorLoss` adds weight · loss(prediction, driving, source) to the total
/// and reports it under `name`.
public protocol PictarAuxiliaryLoss {
    var name: String { get }
    var weight: Float { get }
    func loss(prediction: Tensor, driving: Tensor, source: Tensor) -> Tensor
}

/// The generator's loss for one batch: the weighted total (recorded on the current tape when
/// called inside `Tape.record`), each term's value, and the rendered frames.
public struct PictarGeneratorStep {
    public let loss: Tensor
    /// (name, unweighted value) of every term that was computed.
    public let terms: [(String, Float)]
    /// Rendered driving frames [N, 3, S, S].
    public let prediction: Tensor
}

/// What rendering needs from a source photo, computed once: the lifted volume, the person's
/// canonical keypoints and the source keypoints.
public struct PictarSource {
    public let volume: Tensor
    public let canonical: Tensor
    public let keypoints: Tensor
}

/// The Pictar generator: appearance encoder F, motion encoder M, warping network W, decoder G.
/// The discriminator is a separate module (its own optimiser and checkpoint entry).
public final class PictarGenerator: Module {
    public let config: PictarConfig
    public let appearance: AppearanceEncoder
    public let motion: MotionEncoder
    public let warp: WarpingNetwork
    public let decoder: Decoder

    public init(_ config: PictarConfig, generator: Generator) {
        let problems = config.problems()
        ensure(problems.isEmpty, "Pictar config: " + problems.joined(separator: "; "))
        self.config = config
        appearance = AppearanceEncoder(config, generator: generator.derived(1))
        motion = MotionEncoder(config, generator: generator.derived(2))
        warp = WarpingNetwork(config, generator: generator.derived(3))
        decoder = Decoder(config, generator: generator.derived(4))
    }

    func checkImages(_ x: Tensor, _ what: String) {
        let s = config.imageSize
        ensure(x.rank == 4 && x.shape[1] == 3 && x.shape[2] == s && x.shape[3] == s,
               "Pictar: \(what) must be [N, 3, \(s), \(s)], got \(x.shape)")
    }

    /// Lifts a source photo [N, 3, S, S] once for rendering many frames.
    public func prepare(source: Tensor) -> PictarSource {
        checkImages(source, "source")
        let m = motion(source)
        return PictarSource(volume: appearance(source), canonical: m.canonical, keypoints: m.keypoints)
    }

    /// Renders frames [N, 3, S, S] of a prepared source under driving motions [N, 3K+7].
    public func render(_ source: PictarSource, motion driving: Tensor) -> Tensor {
        ensure(driving.rank == 2 && driving.shape[1] == config.motionWidth && driving.shape[0] == source.volume.shape[0],
               "Pictar.render: motion must be [\(source.volume.shape[0]), \(config.motionWidth)], got \(driving.shape)")
        let kp = MotionLayout.transform(canonical: source.canonical, motion: driving)
        return decoder(warp(source.volume, source: source.keypoints, driving: kp))
    }

    /// Motion loss of a prediction against ground truth [N, 3K+7]: L1 on the expression, scale
    /// and translation; for the pose, cross-entropy on the bins plus L1 of the expected angle
    /// measured in bins.
    func motionLoss(_ p: MotionPrediction, _ target: Tensor) -> Tensor {
        let k = config.keypoints, n = target.shape[0]
        ensure(target.shape == [n, config.motionWidth], "Pictar: ground-truth motion must be [\(n), \(config.motionWidth)], got \(target.shape)")
        let plain = l1Loss(p.motion.slice(dim: 1, start: 0, end: 3 * k + 4), target.slice(dim: 1, start: 0, end: 3 * k + 4))
        let angles = target.slice(dim: 1, start: 3 * k + 4, end: 3 * k + 7).contiguous().toArray()
        let bins = angles.map { motion.poseBin($0) }
        let ce = crossEntropy(p.poseLogits.reshape([n * 3, config.poseBins]), targets: bins)
        let degrees = l1Loss(p.motion.slice(dim: 1, start: 3 * k + 4, end: 3 * k + 7), target.slice(dim: 1, start: 3 * k + 4, end: 3 * k + 7))
        return plain + ce + degrees * (1 / Float(config.poseBinDegrees))
    }

    /// Every generator loss of one batch (call inside `Tape.record` to train). `discriminator`
    /// nil or weight_gan 0 leaves out the adversarial and feature-matching terms. `generator`
    /// draws the equivariance transforms. After backward the discriminator's parameters hold
    /// gradients of this loss too: zero them before its own step.
    public func generatorLoss(_ batch: PictarBatch, discriminator: Discriminator?, generator: Generator,
                              auxiliary: [any PictarAuxiliaryLoss] = []) -> PictarGeneratorStep {
        checkImages(batch.source, "source"); checkImages(batch.driving, "driving")
        ensure(batch.source.shape == batch.driving.shape, "Pictar: source \(batch.source.shape) and driving \(batch.driving.shape) differ")
        let c = config
        var terms: [(String, Float)] = []
        var total = Tensor.scalar(0)
        func add(_ name: String, _ weight: Double, _ value: Tensor) {
            terms.append((name, value.toArray()[0]))
            total = total + value * Float(weight)
        }
        let volume = appearance(batch.source)
        let ms = motion(batch.source), md = motion(batch.driving)
        let kpSource = ms.keypoints
        // The driving frame's motion applied to the source person's canonical keypoints.
        let kpDriving = MotionLayout.transform(canonical: ms.canonical, motion: md.motion)
        let prediction = decoder(warp(volume, source: kpSource, driving: kpDriving))

        add("l1", c.weightL1, l1Loss(prediction, batch.driving))
        add("ssim", c.weightSSIM, 1 - PictarLoss.multiScaleSSIM(prediction, batch.driving, scales: c.ssimScales))
        add("gradient", c.weightGradient, PictarLoss.imageGradient(prediction, batch.driving))
        if let discriminator, c.weightGAN > 0 {
            let fake = discriminator(prediction)
            let real = noGrad { discriminator(batch.driving) }
            add("gan", c.weightGAN, PictarLoss.generatorHinge(fake: fake.logits))
            if c.weightFeatureMatching > 0 {
                add("feature_matching", c.weightFeatureMatching, PictarLoss.featureMatching(real: real.features, fake: fake.features))
            }
        }
        if c.weightEquivariance > 0 {
            let n = batch.driving.shape[0], s = c.imageSize
            let t = PictarLoss.randomSimilarity(count: n, height: s, width: s, shift: c.equivarianceShift,
                                                rotation: c.equivarianceRotation, scale: c.equivarianceScale, generator: generator)
            let moved = gridSample2d(batch.driving, grid: t.grid, alignCorners: false, padding: .border)
            add("equivariance", c.weightEquivariance,
                PictarLoss.equivariance(original: md.keypoints, transformed: motion(moved).keypoints, affine: t.affine))
        }
        if c.weightSeparation > 0 {
            add("separation", c.weightSeparation, PictarLoss.keypointSeparation(kpDriving, distance: Float(c.separationDistance)))
        }
        if c.weightDeformation > 0 {
            add("deformation", c.weightDeformation,
                PictarLoss.deformationPrior(md.motion.slice(dim: 1, start: 0, end: 3 * c.keypoints)))
        }
        if c.weightMotion > 0 {
            if let gt = batch.drivingMotion { add("motion_driving", c.weightMotion, motionLoss(md, gt)) }
            if let gt = batch.sourceMotion { add("motion_source", c.weightMotion, motionLoss(ms, gt)) }
        }
        for aux in auxiliary {
            add(aux.name, Double(aux.weight), aux.loss(prediction: prediction, driving: batch.driving, source: batch.source))
        }
        return PictarGeneratorStep(loss: total, terms: terms, prediction: prediction)
    }
}

extension Discriminator {
    /// Hinge loss of the discriminator on real frames and rendered ones (detached here, so the
    /// generator gets no gradient from this step).
    public func loss(real: Tensor, fake: Tensor) -> Tensor {
        PictarLoss.discriminatorHinge(real: self(real).logits, fake: self(fake.detach()).logits)
    }
}
