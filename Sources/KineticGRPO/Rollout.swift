import Foundation
import NeoNN
import NeoTensor
import Vocal

/// One clip to roll out: its index in the clip pool (part of every seed), its conditions for a
/// single sample (batch 1) and, for a reward that reads another audio format than VOCAL's,
/// those features `[1, L, 2N, W]`.
public struct GRPOClip: @unchecked Sendable {
    public var index: Int
    public var conditions: VocalConditions
    public var rewardAudio: Tensor?
    public init(index: Int, conditions: VocalConditions, rewardAudio: Tensor? = nil) {
        self.index = index
        self.conditions = conditions
        self.rewardAudio = rewardAudio
    }

    /// What the reward of `count` candidates of this clip reads.
    public func rewardContext(candidates count: Int) -> RewardContext {
        RewardContext(conditions: conditions.repeated(count),
                      rewardAudio: rewardAudio.map { count == 1 ? $0 : $0.indexSelect(dim: 0, indices: Array(repeating: 0, count: count)) })
    }

    /// Throws when `reward` needs audio features this clip does not carry.
    public func checkCarries(_ reward: MotionReward) throws(GRPOError) {
        guard let format = reward.audioFormat else { return }
        guard let a = rewardAudio, a.rank == 4, a.shape[0] == 1, a.shape[1] == format.layers, a.shape[3] == format.width,
              a.shape[2] == 2 * conditions.frames else {
            throw GRPOError("clip \(index): reward '\(reward.name)' reads audio features [1, \(format.layers), \(2 * conditions.frames), \(format.width)], the clip carries \(rewardAudio.map { "\($0.shape)" } ?? "none")")
        }
    }
}

/// What one sampling step k of a group recorded (tensors `[G, N, D]`, no tape).
public struct GRPOStepRecord: @unchecked Sendable {
    public let k: Int
    public let t: Float
    public let tNext: Float
    /// Std of the Gaussian step (0 for a deterministic step outside the SDE window).
    public let s: Float
    /// Whether the step is an SDE (trained) step.
    public let isSDE: Bool
    /// The state x_k the step started from.
    public let x: Tensor
    /// ξ_k ~ N(0, I) (zeros for a deterministic step).
    public let xi: Tensor
    /// μ_k of the rollout's (old) policy: x_{k+1} = μ_k + s_k·ξ_k.
    public let mu: Tensor
}

/// The rollout of one clip: G candidates sampled together, their records, scores and advantages.
public final class GRPOGroup: @unchecked Sendable {
    public let clip: Int
    /// The clip's conditions repeated for the G candidates.
    public let conditions: VocalConditions
    /// Every step taken (k = 0…K−1) when the rollout recorded all steps; otherwise the SDE
    /// window's steps only (all that replay needs).
    public let steps: [GRPOStepRecord]
    /// x_K, the generated motion `[G, N, D]`.
    public let final: Tensor
    public let rewards: [Float]
    public let advantages: GroupAdvantages
    /// μ_ref per trained step, filled by the first replay (the reference model is frozen, so one
    /// evaluation serves every update of this rollout).
    var referenceMeans: [Int: Tensor] = [:]

    init(clip: Int, conditions: VocalConditions, steps: [GRPOStepRecord], final: Tensor, rewards: [Float],
         advantages: GroupAdvantages) {
        self.clip = clip
        self.conditions = conditions
        self.steps = steps
        self.final = final
        self.rewards = rewards
        self.advantages = advantages
    }

    public var size: Int { rewards.count }
    public var isDropped: Bool { advantages.dropped }
    public func step(_ k: Int) -> GRPOStepRecord? { steps.first { $0.k == k } }
}

/// One iteration's rollout: the groups, the grid and the settings they were sampled with.
public struct GRPORollout: @unchecked Sendable {
    public let iteration: Int
    public let seed: UInt64
    public let settings: GRPOSettings
    /// t_0 = 1 > … > t_K = 0.
    public let grid: [Float]
    public let groups: [GRPOGroup]
    /// Wall time of the sampling and of the scoring.
    public let samplingSeconds: Double
    public let scoringSeconds: Double

    public var droppedGroups: Int { groups.filter(\.isDropped).count }
    public var allRewards: [Float] { groups.flatMap(\.rewards) }
    /// Numbers per candidate (N·D), the D of docs/architecture.md §6.
    public var dimension: Int { groups.first.map { $0.final.count / $0.size } ?? 0 }
}

extension VocalConditions {
    /// The conditions of a batch-1 clip repeated `count` times along the batch.
    public func repeated(_ count: Int) -> VocalConditions {
        ensure(batch == 1, "VocalConditions.repeated: needs batch-1 conditions, got batch \(batch)")
        func rep(_ t: Tensor?) -> Tensor? {
            t.map { count == 1 ? $0 : $0.indexSelect(dim: 0, indices: Array(repeating: 0, count: count)) }
        }
        return VocalConditions(audio: rep(audio)!, identity: rep(identity), emotion: emotion.map { Array(repeating: $0[0], count: count) },
                               reference: rep(reference), prefix: rep(prefix), prefixMask: rep(prefixMask))
    }

    /// Rows `range` of these conditions (contiguous copies).
    public func rows(_ range: Range<Int>) -> VocalConditions {
        if range == 0..<batch { return self }
        func cut(_ t: Tensor?) -> Tensor? { t.map { $0.slice(dim: 0, start: range.lowerBound, end: range.upperBound).contiguous() } }
        return VocalConditions(audio: cut(audio)!, identity: cut(identity), emotion: emotion.map { Array($0[range]) },
                               reference: cut(reference), prefix: cut(prefix), prefixMask: cut(prefixMask))
    }
}

/// Samples GRPO rollouts without the tape.
///
/// Seeds: candidate j of clip c at iteration i draws from `Generator(seed: seed).derived(i, c, j)`:
/// its initial noise from `.derived(0)` and its step noises ξ_k from `.derived(1)` (one normal per
/// number, step after step). With `shared_noise` every candidate of a clip starts from the noise
/// of candidate 0. A candidate's numbers therefore do not depend on G or on the other clips.
public struct GRPOSampler {
    public let policy: VocalModel
    public let settings: GRPOSettings

    public init(policy: VocalModel, settings: GRPOSettings) {
        self.policy = policy
        self.settings = settings
    }

    /// The time grid of the settings.
    public var grid: [Float] { shiftedTimeGrid(steps: settings.steps, shift: settings.shift) }

    /// The generator of candidate `candidate` of clip `clip` at `iteration`.
    public static func candidateGenerator(seed: UInt64, iteration: Int, clip: Int, candidate: Int) -> Generator {
        Generator(seed: seed).derived(UInt64(iteration), UInt64(clip), UInt64(candidate))
    }

    /// The initial noises x₀ `[G, N, D]` of a clip's candidates.
    public func initialNoise(seed: UInt64, iteration: Int, clip: Int, frames: Int) -> Tensor {
        let g = settings.groupSize, d = policy.config.latentDim
        let x = Tensor.empty([g, frames, d])
        let row = frames * d
        for j in 0..<g {
            let source = settings.sharedInitialNoise ? 0 : j
            Self.candidateGenerator(seed: seed, iteration: iteration, clip: clip, candidate: source)
                .derived(0).fillNormal(x.data + j * row, count: row)
        }
        return x
    }

    /// The velocity the rollout and the replay both use: guided by the settings' weights.
    static func velocity(model: VocalModel, x: Tensor, t: Float, conditions: VocalConditions, guidance: GuidanceWeights) -> Tensor {
        let plan = GuidancePlan(model: model, conditions: conditions, weights: guidance)
        return model.guidedVelocity(x, t: t, plan: plan)
    }

    /// The step loop every GRPO sampling shares (rollouts, evaluations): from `x0` down the
    /// settings' grid, the policy's velocity guided by the settings' weights under `conditions`,
    /// no tape; `step(k, t_k, t_{k+1}, x_k, v)` returns x_{k+1}.
    public func walk(from x0: Tensor, conditions: VocalConditions,
                     step: (_ k: Int, _ t: Float, _ tNext: Float, _ x: Tensor, _ v: Tensor) throws -> Tensor) rethrows -> Tensor {
        let grid = self.grid
        return try noGrad {
            let plan = GuidancePlan(model: policy, conditions: conditions, weights: settings.guidance)
            var x = x0
            for k in 0..<settings.steps {
                let t = grid[k], tNext = grid[k + 1]
                x = try step(k, t, tNext, x, policy.guidedVelocity(x, t: t, plan: plan))
            }
            return x
        }
    }

    /// Deterministic (Euler ODE) samples from `x0`: what evaluations score.
    public func sampleODE(from x0: Tensor, conditions: VocalConditions) -> Tensor {
        walk(from: x0, conditions: conditions) { _, t, tNext, x, v in PolicyStep.deterministic(x: x, v: v, t: t, tNext: tNext) }
    }

    /// Rolls out G candidates for each clip (one batched forward of G rows per step and clip),
    /// scores the final motions with `reward` and computes the advantages. `recordAll` keeps
    /// every step (for dumps); otherwise only the SDE window's steps are kept.
    public func rollout(clips: [GRPOClip], iteration: Int, seed: UInt64, reward: MotionReward,
                        recordAll: Bool = false) throws -> GRPORollout {
        try settings.validate(training: false)
        try reward.checkCompatible(latentDim: policy.config.latentDim)
        let grid = self.grid
        let g = settings.groupSize, a = Float(settings.noiseLevel)
        var groups: [GRPOGroup] = []
        var sampling = 0.0, scoring = 0.0
        for clip in clips {
            guard clip.conditions.batch == 1 else {
                throw GRPOError("clip \(clip.index): conditions must hold one sample, got a batch of \(clip.conditions.batch)")
            }
            do { try clip.conditions.validate(policy.config) } catch {
                throw GRPOError("clip \(clip.index): \(error)")
            }
            try clip.checkCarries(reward)
            let start = DispatchTime.now().uptimeNanoseconds
            let n = clip.conditions.frames, row = n * policy.config.latentDim
            let context = clip.rewardContext(candidates: g)
            let conditions = context.conditions
            let stepNoise = (0..<g).map {
                Self.candidateGenerator(seed: seed, iteration: iteration, clip: clip.index, candidate: $0).derived(1)
            }
            var records: [GRPOStepRecord] = []
            let x = walk(from: initialNoise(seed: seed, iteration: iteration, clip: clip.index, frames: n),
                         conditions: conditions) { k, t, tNext, x, v in
                if settings.isSDEStep(k) {
                    let mu = PolicyStep.mean(kind: settings.sdeKind, x: x, v: v, t: t, tNext: tNext, noiseLevel: a)
                    let s = PolicyStep.std(kind: settings.sdeKind, t: t, tNext: tNext, noiseLevel: a)
                    let xi = Tensor.empty(x.shape)
                    for j in 0..<g { stepNoise[j].fillNormal(xi.data + j * row, count: row) }
                    records.append(GRPOStepRecord(k: k, t: t, tNext: tNext, s: s, isSDE: true, x: x, xi: xi, mu: mu))
                    return mu + xi * s
                }
                let mu = PolicyStep.deterministic(x: x, v: v, t: t, tNext: tNext)
                if recordAll {
                    records.append(GRPOStepRecord(k: k, t: t, tNext: tNext, s: 0, isSDE: false, x: x,
                                                  xi: Tensor.zeros(x.shape), mu: mu))
                }
                return mu
            }
            let mid = DispatchTime.now().uptimeNanoseconds
            let rewards = try reward.score(motion: x, context: context)
            guard rewards.count == g else {
                throw GRPOError("reward '\(reward.name)' returned \(rewards.count) scores for \(g) candidates")
            }
            if let bad = rewards.firstIndex(where: { !$0.isFinite }) {
                throw GRPOError("reward '\(reward.name)' returned \(rewards[bad]) for candidate \(bad) of clip \(clip.index)")
            }
            let end = DispatchTime.now().uptimeNanoseconds
            sampling += Double(mid - start) / 1e9
            scoring += Double(end - mid) / 1e9
            groups.append(GRPOGroup(clip: clip.index, conditions: conditions, steps: records, final: x, rewards: rewards,
                                    advantages: GroupAdvantages(rewards: rewards, clip: settings.advantageClip)))
        }
        return GRPORollout(iteration: iteration, seed: seed, settings: settings, grid: grid, groups: groups,
                           samplingSeconds: sampling, scoringSeconds: scoring)
    }
}
