import Foundation
import NeoTensor
import Vocal

/// A held-out clip and, for real data, what the metrics compare it with.
public struct GRPOEvaluationClip: @unchecked Sendable {
    public let clip: GRPOClip
    /// The ground-truth motion of the window (real units), when the clip is real.
    public let truth: MotionClip?
    public let identity: String?
    public init(clip: GRPOClip, truth: MotionClip? = nil, identity: String? = nil) {
        self.clip = clip
        self.truth = truth
        self.identity = identity
    }
}

/// Held-out evaluation of a GRPO policy: deterministic (Euler ODE) samples of every held-out
/// clip from fixed noise, then
/// - `reward`: the reward of the real motion (mean over clips and candidates);
/// - `lipsync_r`: correlation of the lip opening with the ground-truth lip opening of the same
///   window (real clips only; not part of the reward);
/// - `jitter`: mean absolute jerk of the real motion (`MotionMetrics.jitter`);
/// - `lip_opening`: mean lip opening (what a hacked reward may inflate);
/// - `kl`: the mean-position KL to the reference model along the policy's own trajectory at
///   the trained window's steps, ‖μ_θ − μ_ref‖²/(2 s_k²) divided by the numbers per sample
///   (N·D), with μ and s of the rollout's SDE step; 0 for the reference itself.
public enum GRPOEvaluation {
    public struct Result: Sendable {
        public var reward: Double
        public var lipSync: Double?
        public var jitter: Double
        public var lipOpening: Double?
        public var kl: Double
        /// Real motion of each sample, clip after clip (candidates within a clip together).
        public var motions: [MotionClip]

        /// The metrics with names prefixed `eval_` and suffixed `suffix`.
        public func named(suffix: String = "") -> [(String, Float)] {
            var out: [(String, Float)] = [("eval_reward" + suffix, Float(reward))]
            if let lipSync { out.append(("eval_lipsync_r" + suffix, Float(lipSync))) }
            out.append(("eval_jitter" + suffix, Float(jitter)))
            if let lipOpening { out.append(("eval_lip_opening" + suffix, Float(lipOpening))) }
            out.append(("eval_kl" + suffix, Float(kl)))
            return out
        }
    }

    /// `reward` scores network-space latents (a `NetworkSpaceReward` for a normalised policy).
    public static func run(policy: NormalizedVocal, reference: NormalizedVocal, clips: [GRPOEvaluationClip], reward: MotionReward,
                           settings: GRPOSettings, seed: UInt64, candidates: Int, geometry: LipGeometry) throws -> Result {
        let sampler = GRPOSampler(policy: policy.vocal, settings: settings)
        let a = Float(settings.noiseLevel)
        var rewards: [Float] = [], syncs: [Double] = [], jitters: [Double] = [], openings: [Double] = [], kls: [Double] = []
        var motions: [MotionClip] = []
        // Lip metrics need the layout's lip keypoints inside the latent (not so for tiny test models).
        let hasLips = policy.config.latentDim >= 3 * ((geometry.upper + geometry.lower).max() ?? 0) + geometry.axis + 1
        for e in clips {
            let clip = e.clip
            try clip.checkCarries(reward)
            let context = clip.rewardContext(candidates: candidates)
            let conditions = context.conditions
            let n = conditions.frames, d = policy.config.latentDim
            let noise = GRPOLearner.evaluationNoise(clip: clip, candidates: candidates, latentDim: d, seed: seed)
            let refPlan = noGrad { GuidancePlan(model: reference.vocal, conditions: conditions, weights: settings.guidance) }
            // The ODE sample, with the KL to the reference measured along it at the trained steps.
            let latent = sampler.walk(from: noise, conditions: conditions) { k, t, tNext, x, v in
                if settings.isSDEStep(k) {
                    let vRef = reference.vocal.guidedVelocity(x, t: t, plan: refPlan)
                    let mu = PolicyStep.mean(kind: settings.sdeKind, x: x, v: v, t: t, tNext: tNext, noiseLevel: a)
                    let muRef = PolicyStep.mean(kind: settings.sdeKind, x: x, v: vRef, t: t, tNext: tNext, noiseLevel: a)
                    let s = PolicyStep.std(kind: settings.sdeKind, t: t, tNext: tNext, noiseLevel: a)
                    kls += PolicyStep.meanKL(muTheta: mu, muRef: muRef, s: s).toArray().map { Double($0) / Double(n * d) }
                }
                return PolicyStep.deterministic(x: x, v: v, t: t, tNext: tNext)
            }
            rewards += try reward.score(motion: latent, context: context)
            let real = policy.motion(fromNetwork: latent, conditions: conditions).contiguous().toArray()
            for j in 0..<candidates {
                let m = MotionClip(values: Array(real[(j * n * d)..<((j + 1) * n * d)]), frames: n, dim: d)
                motions.append(m)
                jitters.append(MotionMetrics.jitter(m))
                guard hasLips else { continue }
                let opening = MotionMetrics.lipOpening(m, geometry: geometry)
                openings.append(opening.isEmpty ? 0 : Double(opening.reduce(0, +)) / Double(opening.count))
                if let truth = e.truth {
                    let sync = MotionMetrics.lipSyncCorrelation(m, track: MotionMetrics.lipOpening(truth, geometry: geometry), geometry: geometry)
                    if sync.isFinite { syncs.append(sync) }
                }
            }
        }
        func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
        return Result(reward: mean(rewards.map(Double.init)), lipSync: syncs.isEmpty ? nil : mean(syncs), jitter: mean(jitters),
                      lipOpening: openings.isEmpty ? nil : mean(openings), kl: mean(kls), motions: motions)
    }
}
