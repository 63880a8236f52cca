import Foundation
import NeoNN
import NeoTensor

/// One training batch of windows as plain tensors.
public struct VocalBatch: @unchecked Sendable {
    /// Clean motion latents x₀ `[B, N, D]`.
    public var motion: Tensor
    /// The window's conditions (audio hidden states, identity clip, emotion, reference frame,
    /// prefix and its mask).
    public var conditions: VocalConditions

    public init(motion: Tensor, conditions: VocalConditions) {
        self.motion = motion
        self.conditions = conditions
    }

    /// A batch from its parts. `reference` defaults to the first frame of the identity clip (the
    /// stand-in for the photo's latent when the loader has none).
    public init(motion: Tensor, audio: Tensor, identity: Tensor?, emotion: [Int]?, reference: Tensor? = nil,
                prefix: Tensor? = nil, prefixMask: Tensor? = nil) {
        let ref = reference ?? identity.map { $0.slice(dim: 1, start: 0, end: 1).squeeze(1).contiguous() }
        self.init(motion: motion, conditions: VocalConditions(audio: audio, identity: identity, emotion: emotion,
                                                              reference: ref, prefix: prefix, prefixMask: prefixMask))
    }

    public var batch: Int { motion.shape[0] }

    /// Throws a `VocalError` when a tensor does not fit `config` or the motion window.
    public func validate(_ config: VocalConfig) throws {
        try conditions.validate(config)
        let b = conditions.batch, n = conditions.frames
        if motion.shape != [b, n, config.latentDim] {
            throw VocalError("motion: expected [\(b), \(n), \(config.latentDim)] (batch and frames of the audio features), got \(motion.shape)")
        }
    }
}

/// t = sigmoid(mean + std·n), n ~ N(0, 1), for `count` samples (one normal each from `generator`).
public func logitNormalTimes(count: Int, mean: Double, std: Double, generator: Generator) -> [Float] {
    (0..<count).map { _ in Float(1 / (1 + Foundation.exp(-(mean + std * generator.nextNormal())))) }
}

/// The rectified-flow pair for clean data x₀ and noise ε (same shape, samples along dim 0) at
/// per-sample times t: x_t = (1 − t)·x₀ + t·ε and the target velocity v = ε − x₀.
public func rectifiedFlowPair(x0: Tensor, noise: Tensor, t: [Float]) -> (xt: Tensor, target: Tensor) {
    ensure(x0.shape == noise.shape && x0.rank >= 1 && t.count == x0.shape[0],
           "rectifiedFlowPair: x₀ \(x0.shape), ε \(noise.shape) and \(t.count) times do not fit")
    let tt = Tensor(t, shape: [t.count] + Array(repeating: 1, count: x0.rank - 1))
    return (x0 * (1 - tt) + noise * tt, noise - x0)
}

/// The random draws of one flow-matching step: per-sample time, kept conditions and noise.
public struct FlowMatchingDraw: @unchecked Sendable {
    public var t: [Float]
    public var keep: [ConditionKeep]
    /// ε `[B, N, D]`.
    public var noise: Tensor

    public init(t: [Float], keep: [ConditionKeep], noise: Tensor) {
        self.t = t; self.keep = keep; self.noise = noise
    }

    /// Draws, in this order from `generator`: per sample a normal for t = sigmoid(mean + std·n)
    /// and five uniforms deciding the drops (audio, identity, emotion, reference, prefix), then
    /// the noise ε ~ N(0, I) of the batch's motion shape.
    public static func draw(shape: [Int], settings: FlowMatchingSettings, generator: Generator) -> FlowMatchingDraw {
        let b = shape[0]
        var t: [Float] = [], keep: [ConditionKeep] = []
        for _ in 0..<b {
            t += logitNormalTimes(count: 1, mean: settings.logitNormalMean, std: settings.logitNormalStd, generator: generator)
            let u = (0..<5).map { _ in generator.nextUniform() }
            keep.append(ConditionKeep(audio: u[0] >= settings.dropAudio, identity: u[1] >= settings.dropIdentity,
                                      emotion: u[2] >= settings.dropEmotion, reference: u[3] >= settings.dropReference,
                                      prefix: u[4] >= settings.dropPrefix))
        }
        return FlowMatchingDraw(t: t, keep: keep, noise: Tensor.normal(shape, generator: generator))
    }
}

/// Rectified-flow loss for given draws: x_t = (1 − t)·x₀ + t·ε, target v = ε − x₀,
/// loss = mean over all B·N·D numbers of (v_θ(x_t, t, c) − v)².
public func flowMatchingLoss(model: VocalModel, batch: VocalBatch, draw: FlowMatchingDraw) -> Tensor {
    let x0 = batch.motion
    let b = x0.shape[0]
    ensure(draw.noise.shape == x0.shape && draw.t.count == b && draw.keep.count == b,
           "flowMatchingLoss: draws for shape \(draw.noise.shape) and \(draw.t.count) samples do not fit motion \(x0.shape)")
    let (xt, target) = rectifiedFlowPair(x0: x0, noise: draw.noise, t: draw.t)
    let v = model.velocity(xt, t: draw.t, conditions: model.encode(batch.conditions, keep: draw.keep))
    return mseLoss(v, target)
}

/// Rectified-flow loss with t from the logit-normal distribution and independent condition
/// dropout, all drawn from `generator` (see `FlowMatchingDraw.draw`).
public func flowMatchingLoss(model: VocalModel, batch: VocalBatch, settings: FlowMatchingSettings = FlowMatchingSettings(),
                             generator: Generator) -> Tensor {
    let draw = FlowMatchingDraw.draw(shape: batch.motion.shape, settings: settings, generator: generator)
    return flowMatchingLoss(model: model, batch: batch, draw: draw)
}

/// Validation loss: mean flow-matching loss over `batches` with every condition kept and draws
/// from fixed generators (batch i uses `Generator(seed: seed).derived(i)`), so two evaluations
/// of the same weights give the same number. Weighted by batch size; no tape.
public func flowMatchingValidationLoss(model: VocalModel, batches: [VocalBatch], settings: FlowMatchingSettings = FlowMatchingSettings(),
                                       seed: UInt64 = 0) -> Double {
    var kept = settings
    kept.dropAudio = 0; kept.dropIdentity = 0; kept.dropEmotion = 0; kept.dropReference = 0; kept.dropPrefix = 0
    var total = 0.0, count = 0
    noGrad {
        for (i, batch) in batches.enumerated() {
            let loss = flowMatchingLoss(model: model, batch: batch, settings: kept, generator: Generator(seed: seed).derived(UInt64(i)))
            total += Double(loss.item) * Double(batch.batch)
            count += batch.batch
        }
    }
    return count > 0 ? total / Double(count) : 0
}
