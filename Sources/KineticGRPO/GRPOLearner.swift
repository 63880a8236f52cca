import Foundation
import NeoNN
import NeoTensor
import Vocal

/// One optimiser update of an iteration: the replay pass that produced its gradients.
public struct GRPOUpdate: Sendable {
    public let pass: ReplayPass
    /// Global gradient norm before clipping.
    public let gradientNorm: Float
    public let learningRate: Float
    /// False when every group was dropped (no gradient, no step).
    public let stepped: Bool
    public let seconds: Double
}

/// What one GRPO iteration did: the rollout, then `updates_per_rollout` updates.
public struct GRPOIterationResult: Sendable {
    public let rollout: GRPORollout
    public let updates: [GRPOUpdate]
    /// Peak resident bytes (VmHWM) of the rollout phase and of the update phase, when the
    /// platform can reset and read the peak (Linux).
    public let rolloutPeakResident: Int?
    public let updatePeakResident: Int?
}

/// The Kinetic-GRPO algorithm around a policy: rollouts without the tape, group-relative
/// advantages, replays with the tape, clipped objective with the mean-position KL anchor,
/// optimiser steps (with gradient clipping and EMA). Deterministic given the seed and the
/// iteration number, so a resumed run repeats an uninterrupted one.
public final class GRPOLearner {
    public let policy: VocalModel
    /// The frozen reference (usually the starting policy).
    public let reference: VocalModel
    public let reward: MotionReward
    public let settings: GRPOSettings
    public let optimizer: any Optimizer
    public let schedule: any LearningRateSchedule
    /// Global gradient-norm clip; 0 turns clipping off.
    public let clipNorm: Float
    public let ema: EMA?
    public let seed: UInt64

    public init(policy: VocalModel, reference: VocalModel, reward: MotionReward, settings: GRPOSettings,
                optimizer: any Optimizer, schedule: any LearningRateSchedule, clipNorm: Float = 1, ema: EMA? = nil,
                seed: UInt64) throws {
        try settings.validate()
        guard policy.config == reference.config else {
            throw GRPOError("the reference model's shape differs from the policy's")
        }
        try reward.checkCompatible(latentDim: policy.config.latentDim)
        for p in reference.parameters() { p.isFrozen = true }
        self.policy = policy
        self.reference = reference
        self.reward = reward
        self.settings = settings
        self.optimizer = optimizer
        self.schedule = schedule
        self.clipNorm = clipNorm
        self.ema = ema
        self.seed = seed
    }

    public var sampler: GRPOSampler { GRPOSampler(policy: policy, settings: settings) }
    public var replayer: GRPOReplayer { GRPOReplayer(policy: policy, reference: reference, settings: settings) }

    /// Iteration `iteration` on `clips`: rollout, advantages, then the updates.
    /// `reduceGradients` runs after each replay's backward and before clipping: where a
    /// data-parallel runner averages the gradients over its processes.
    public func iteration(_ iteration: Int, clips: [GRPOClip], recordAll: Bool = false,
                          reduceGradients: ([Parameter]) throws -> Void = { _ in }) throws -> GRPOIterationResult {
        let canMeasure = ProcessMemory.resetPeak()
        let rollout = try sampler.rollout(clips: clips, iteration: iteration, seed: seed, reward: reward, recordAll: recordAll)
        let rolloutPeak = canMeasure ? ProcessMemory.read()?.peak : nil
        if canMeasure { ProcessMemory.resetPeak() }

        let parameters = optimizer.allParameters.map(\.1)
        var updates: [GRPOUpdate] = []
        for _ in 0..<settings.updatesPerRollout {
            let start = DispatchTime.now().uptimeNanoseconds
            optimizer.zeroGrad()
            let pass = try replayer.replay(rollout)
            let lr = schedule.lr(at: optimizer.stepCount)
            guard pass.candidates > 0 else {
                updates.append(GRPOUpdate(pass: pass, gradientNorm: 0, learningRate: lr, stepped: false,
                                          seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
                continue
            }
            try reduceGradients(parameters)
            let norm = clipNorm > 0 ? clipGradientNorm(parameters, maxNorm: clipNorm) : gradientNorm(parameters)
            guard norm.isFinite else {
                throw GRPOError("iteration \(iteration): gradient norm is \(norm)")
            }
            optimizer.learningRate = lr
            optimizer.step()
            optimizer.zeroGrad()
            ema?.update()
            updates.append(GRPOUpdate(pass: pass, gradientNorm: norm, learningRate: lr, stepped: true,
                                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        let updatePeak = canMeasure ? ProcessMemory.read()?.peak : nil
        return GRPOIterationResult(rollout: rollout, updates: updates, rolloutPeakResident: rolloutPeak,
                                   updatePeakResident: updatePeak)
    }

    /// Mean reward of deterministic (Euler ODE) samples of `model` on `clips`, `candidates`
    /// per clip, from noise drawn from `Generator(seed: seed).derived(clip index, candidate)`
    /// (the same noise for every model, so two models compare on equal footing). No tape.
    public static func evaluate(model: VocalModel, clips: [GRPOClip], reward: MotionReward, settings: GRPOSettings,
                                seed: UInt64, candidates: Int = 1) throws -> (mean: Double, rewards: [Float], motions: [Tensor]) {
        let sampler = GRPOSampler(policy: model, settings: settings)
        var rewards: [Float] = [], motions: [Tensor] = []
        for clip in clips {
            let context = clip.rewardContext(candidates: candidates)
            let motion = sampler.sampleODE(from: evaluationNoise(clip: clip, candidates: candidates, latentDim: model.config.latentDim, seed: seed),
                                           conditions: context.conditions)
            try clip.checkCarries(reward)
            rewards += try reward.score(motion: motion, context: context)
            motions.append(motion)
        }
        let mean = rewards.isEmpty ? 0 : rewards.reduce(0.0) { $0 + Double($1) } / Double(rewards.count)
        return (mean, rewards, motions)
    }

    /// The fixed noise `[candidates, N, D]` evaluations start clip `clip` from:
    /// `Generator(seed: seed).derived(clip index, candidate)`, the same for every model.
    public static func evaluationNoise(clip: GRPOClip, candidates: Int, latentDim d: Int, seed: UInt64) -> Tensor {
        let n = clip.conditions.frames
        let noise = Tensor.empty([candidates, n, d])
        for j in 0..<candidates {
            Generator(seed: seed).derived(UInt64(clip.index), UInt64(j)).fillNormal(noise.data + j * n * d, count: n * d)
        }
        return noise
    }
}
