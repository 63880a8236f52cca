import Foundation
import NeoNN
import NeoTensor

/// Multi-condition classifier-free guidance as a weighted sum of velocities under nested
/// condition sets:
///   v = v(∅) + w_a·(v(a) − v(∅)) + w_i·(v(a,i) − v(a)) + w_r·(v(a,i,r) − v(a,i))
///     = (1 − w_a)·v(∅) + (w_a − w_i)·v(a) + (w_i − w_r)·v(a,i) + w_r·v(a,i,r).
/// ∅ drops audio, identity, emotion and the reference token; (a) keeps the audio; (a,i) adds
/// identity and emotion; (a,i,r) adds the reference. The prefix is kept in every set (it carries
/// continuity between windows, it is not guided). Sets with a zero coefficient are not
/// evaluated, sets that coincide because a condition is absent are merged, and the rest run as
/// one batched forward of S·B rows.
public struct GuidancePlan: @unchecked Sendable {
    /// The evaluated sets with their coefficients (they sum to 1).
    public let sets: [(keep: ConditionKeep, weight: Float)]
    /// The conditions encoded for all sets, set-major (S·B rows).
    public let encoded: EncodedConditions
    public let batch: Int

    /// The nested sets and their coefficients for `weights`.
    public static func coefficients(_ weights: GuidanceWeights) -> [(keep: ConditionKeep, weight: Double)] {
        let none = ConditionKeep.unconditional
        let a = ConditionKeep(audio: true, identity: false, emotion: false, reference: false, prefix: true)
        let ai = ConditionKeep(audio: true, identity: true, emotion: true, reference: false, prefix: true)
        let air = ConditionKeep.all
        return [(none, 1 - weights.audio), (a, weights.audio - weights.identity),
                (ai, weights.identity - weights.reference), (air, weights.reference)]
    }

    public init(model: VocalModel, conditions: VocalConditions, weights: GuidanceWeights) {
        // What a set keeps in effect, given which conditions exist at all.
        func effective(_ k: ConditionKeep) -> ConditionKeep {
            ConditionKeep(audio: k.audio, identity: k.identity && conditions.identity != nil,
                          emotion: k.emotion && conditions.emotion != nil,
                          reference: k.reference && conditions.reference != nil,
                          prefix: k.prefix && conditions.prefix != nil)
        }
        var merged: [(keep: ConditionKeep, weight: Double)] = []
        for (keep, w) in GuidancePlan.coefficients(weights) {
            let e = effective(keep)
            if let i = merged.firstIndex(where: { $0.keep == e }) { merged[i].weight += w } else { merged.append((e, w)) }
        }
        let used = merged.filter { $0.weight != 0 }
        sets = used.map { ($0.keep, Float($0.weight)) }
        batch = conditions.batch
        encoded = model.encode(conditions, keep: sets.flatMap { Array(repeating: $0.keep, count: conditions.batch) })
    }
}

extension VocalModel {
    /// The guided velocity `[B, N, D]` at x `[B, N, D]` and time t: one forward over the plan's
    /// sets. A plan with a single set of coefficient 1 (all weights 1, or everything else
    /// absent) returns that set's velocity unchanged.
    public func guidedVelocity(_ x: Tensor, t: Float, plan: GuidancePlan) -> Tensor {
        let s = plan.sets.count, b = plan.batch
        if s == 0 { return Tensor.zeros(x.shape) }
        let rows = s == 1 ? x : Tensor.concat(Array(repeating: x, count: s), dim: 0)
        let v = velocity(rows, t: Array(repeating: t, count: s * b), conditions: plan.encoded)
        if s == 1 && plan.sets[0].weight == 1 { return v }
        let parts = v.split(Array(repeating: b, count: s), dim: 0)
        var out = parts[0] * plan.sets[0].weight
        for i in 1..<s { out = out + parts[i] * plan.sets[i].weight }
        return out
    }
}

/// Sampling windows and whole clips from a VOCAL model with guidance.
public struct VocalSampler: @unchecked Sendable {
    public let model: VocalModel
    public var settings: SamplingSettings

    public init(model: VocalModel, settings: SamplingSettings = SamplingSettings()) {
        self.model = model
        self.settings = settings
    }

    /// One window: from `noise` `[B, N, D]` (x at t = 1) to motion latents `[B, N, D]`, with the
    /// guidance weights, grid and sampler of the settings. The SDE draws ξ from `generator`
    /// (required for `.sde`); with `record` it returns the trajectory (velocities guided).
    public func sampleWindow(conditions: VocalConditions, noise: Tensor, generator: Generator? = nil,
                             record: Bool = false) throws -> (motion: Tensor, trajectory: SDETrajectory?) {
        try settings.validate()
        try conditions.validate(model.config)
        guard noise.shape == [conditions.batch, conditions.frames, model.config.latentDim] else {
            throw VocalError("sampler: noise must be [\(conditions.batch), \(conditions.frames), \(model.config.latentDim)], got \(noise.shape)")
        }
        if settings.sampler == .sde && generator == nil {
            throw VocalError("sampler: the SDE sampler needs a generator for its noise")
        }
        let grid = shiftedTimeGrid(steps: settings.steps, shift: settings.shift)
        return noGrad {
            let plan = GuidancePlan(model: model, conditions: conditions, weights: settings.guidance)
            let field: VelocityField = { x, t in model.guidedVelocity(x, t: t, plan: plan) }
            switch settings.sampler {
            case .euler: return (sampleODE(from: noise, grid: grid, solver: .euler, velocity: field), nil)
            case .heun: return (sampleODE(from: noise, grid: grid, solver: .heun, velocity: field), nil)
            case .sde:
                let (x, trajectory) = sampleSDE(from: noise, grid: grid, noiseLevel: Float(settings.noiseLevel), generator: generator!,
                                                record: record, velocity: field)
                return (x, trajectory)
            }
        }
    }

    /// The windows `sampleLong` cuts T frames into: consecutive, non-overlapping ranges of
    /// `windowFrames` frames (the last one shorter when T is not a multiple).
    public func windows(frames: Int) -> [Range<Int>] {
        let n = model.config.windowFrames
        return stride(from: 0, to: frames, by: n).map { $0..<Swift.min($0 + n, frames) }
    }

    /// A whole clip of any length: audio hidden states `[B, L, 2T, W]` → motion `[B, T, D]`,
    /// window by window (`windows(frames:)`). Each window after the first gets the last K
    /// generated frames before it as prefix tokens (K = `prefixFrames`, fewer when the output
    /// so far is shorter), so windows join smoothly. Window w starts from noise drawn from
    /// `generator.derived(w)` (and the SDE's ξ from `generator.derived(w, 1)`), so a window's
    /// randomness does not depend on the clip's length. `progress(done, total)` is called after
    /// each window.
    public func sampleLong(audio: Tensor, identity: Tensor? = nil, emotion: [Int]? = nil, reference: Tensor? = nil,
                           generator: Generator, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        let cfg = model.config
        guard audio.rank == 4, audio.shape[2] % 2 == 0, audio.shape[2] >= 2 else {
            throw VocalError("sampler: audio features must be [B, \(cfg.audioLayers), 2T, \(cfg.audioWidth)] with an even number ≥ 2 of feature frames, got \(audio.shape)")
        }
        let b = audio.shape[0], total = audio.shape[2] / 2, d = cfg.latentDim
        var pieces: [Tensor] = []
        var produced = 0
        var tail: Tensor? = nil  // the last ≤ K generated frames
        let all = windows(frames: total)
        for (w, range) in all.enumerated() {
            let windowAudio = audio.slice(dim: 2, start: 2 * range.lowerBound, end: 2 * range.upperBound).contiguous()
            let prefix = cfg.prefixFrames > 0 ? tail : nil
            let conditions = VocalConditions(audio: windowAudio, identity: identity, emotion: emotion, reference: reference, prefix: prefix)
            let noise = Tensor.normal([b, range.count, d], generator: generator.derived(UInt64(w)))
            let (x, _) = try sampleWindow(conditions: conditions, noise: noise, generator: generator.derived(UInt64(w), 1))
            pieces.append(x)
            produced += range.count
            // Keep the last K frames of everything generated so far (the old tail fills in when
            // a short window has fewer than K).
            let k = Swift.min(cfg.prefixFrames, produced)
            let source = x.shape[1] >= k || tail == nil ? x : Tensor.concat([tail!, x], dim: 1)
            let len = source.shape[1]
            tail = k > 0 ? source.slice(dim: 1, start: len - k, end: len).contiguous() : nil
            progress?(w + 1, all.count)
        }
        return pieces.count == 1 ? pieces[0] : Tensor.concat(pieces, dim: 1)
    }
}
