import Vocal

/// Which stochastic step the rollout takes inside the SDE window (recipe key `grpo.sde_kind`).
public enum SDEKind: String, Sendable, Codable, CaseIterable {
    /// The SDE of docs/architecture.md §6, whose marginals equal the ODE's: σ_k = a·√(t/(1−t)) (t₁ in the
    /// denominator at t = 1), μ_k = x + [v + σ²/(2t)·(x + (1−t)·v)]·Δt, s_k = σ_k·√|Δt|.
    case flow
    /// The coefficients-preserving step: predict x̂₀ = x − t·v and ε̂ = x + (1−t)·v, then
    /// μ_k = (1−t')·x̂₀ + t'·cos(aπ/2)·ε̂ and s_k = t'·sin(aπ/2) (t' = t_{k+1}), so the noise
    /// put back plus the noise kept has exactly the variance t'² the schedule expects
    /// (a ∈ [0, 1]).
    case cps
}

/// The knobs of one Kinetic-GRPO run that are not the optimiser's (recipe section `[grpo]`).
public struct GRPOSettings: Sendable, Equatable {
    /// `group_size`: candidates G sampled per clip (≥ 2: advantages are relative to the group).
    public var groupSize = 8
    /// `clips_per_iteration`: clips (groups) per rollout.
    public var clipsPerIteration = 2
    /// `steps`: sampling steps K of the time grid.
    public var steps = 10
    /// `shift`: S of the shifted grid t_k = S·u/(1 + (S−1)·u), u = 1 − k/K.
    public var shift = 1.0
    /// `noise_level`: a of the SDE step (σ scale for `flow`, angle fraction for `cps`).
    public var noiseLevel = 0.7
    /// `sde_kind`: "flow" or "cps".
    public var sdeKind = SDEKind.flow
    /// `window_start`, `window_size`: the steps k ∈ [start, start + size) are SDE steps and are
    /// trained; every other step is a deterministic Euler (ODE) step. The last step k = K − 1 is
    /// never part of the window.
    public var windowStart = 0
    public var windowSize = 2
    /// `clip_range`: ε of the clipped objective, ρ clipped to [1 − ε, 1 + ε].
    public var clipRange = 0.2
    /// `beta`: weight β of the mean-position KL anchor (per dimension) in the loss.
    public var beta = 0.04
    /// `advantage_clip`: advantages are clipped to [−c, c].
    public var advantageClip = 5.0
    /// `shared_noise`: all candidates of a clip start from the same initial noise x₀ (their
    /// SDE noises still differ).
    public var sharedInitialNoise = false
    /// `replay_batch`: candidates of one group replayed per forward/backward (1: least memory;
    /// G: the rollout's batch shape, which reproduces its means bit for bit).
    public var replayBatch = 1
    /// `updates_per_rollout`: optimiser steps per rollout; each replays the whole rollout.
    public var updatesPerRollout = 1
    /// `cfg_audio`, `cfg_identity`, `cfg_reference`: guidance weights of rollouts and replays.
    public var guidance = GuidanceWeights()

    public init() {}

    /// The trained steps k (in order).
    public var window: Range<Int> { windowStart..<(windowStart + windowSize) }

    /// Whether step k is an SDE (trained) step.
    public func isSDEStep(_ k: Int) -> Bool { window.contains(k) }

    /// Throws a `GRPOError` naming the first `[grpo]` key whose value cannot work. Sampling
    /// alone (`training: false`) also accepts noise level 0, where every step is the ODE's.
    public func validate(training: Bool = true) throws(GRPOError) {
        func need(_ ok: Bool, _ key: String, _ what: String) throws(GRPOError) {
            if !ok { throw GRPOError(key: key, what) }
        }
        try need(groupSize >= 2, "group_size", "must be ≥ 2 (advantages compare candidates within a group), got \(groupSize)")
        try need(clipsPerIteration >= 1, "clips_per_iteration", "must be ≥ 1, got \(clipsPerIteration)")
        try need(steps >= 2, "steps", "must be ≥ 2 (the last step is never trained), got \(steps)")
        try need(shift > 0 && shift.isFinite, "shift", "must be > 0, got \(shift)")
        try need((training ? noiseLevel > 0 : noiseLevel >= 0) && noiseLevel.isFinite, "noise_level",
                 "must be > 0 (the trained steps need noise for a likelihood ratio), got \(noiseLevel)")
        if sdeKind == .cps {
            try need(noiseLevel <= 1, "noise_level", "must be in [0, 1] for sde_kind = \"cps\" (a fraction of a quarter turn), got \(noiseLevel)")
        }
        try need(windowSize >= 1, "window_size", "must be ≥ 1, got \(windowSize)")
        try need(windowStart >= 0, "window_start", "must be ≥ 0, got \(windowStart)")
        try need(windowStart + windowSize <= steps - 1, "window_size",
                 "the trained window k ∈ [\(windowStart), \(windowStart + windowSize)) contains the last step k = \(steps - 1) of \(steps) (or goes past it); the last step is never trained: use window_start + window_size ≤ \(steps - 1)")
        try need(clipRange > 0 && clipRange < 1, "clip_range", "must be in (0, 1), got \(clipRange)")
        try need(beta >= 0 && beta.isFinite, "beta", "must be ≥ 0, got \(beta)")
        try need(advantageClip > 0 && advantageClip.isFinite, "advantage_clip", "must be > 0, got \(advantageClip)")
        try need(replayBatch >= 1 && replayBatch <= groupSize, "replay_batch",
                 "must be in 1…group_size (\(groupSize)), got \(replayBatch)")
        try need(updatesPerRollout >= 1, "updates_per_rollout", "must be ≥ 1, got \(updatesPerRollout)")
        for (key, w) in [("cfg_audio", guidance.audio), ("cfg_identity", guidance.identity), ("cfg_reference", guidance.reference)]
        where !w.isFinite {
            throw GRPOError(key: key, "must be finite, got \(w)")
        }
    }
}
