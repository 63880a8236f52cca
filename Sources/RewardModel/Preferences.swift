import NeoTensor

/// Two versions of the same stretch of a performance, one preferred over the other.
public struct PreferencePair: Sendable {
    public enum Kind: String, Sendable, Codable {
        /// Ground truth over a degraded copy.
        case realOverDegraded = "real_over_degraded"
        /// A weaker degradation over a stronger one of the same kind (same random draws).
        case weakerOverStronger = "weaker_over_stronger"
        /// Model samples ranked by ground-truth metrics.
        case rankedSamples = "ranked_samples"
    }
    public var preferred: PerformanceWindow
    public var rejected: PerformanceWindow
    public var kind: Kind
    /// The degradation behind the pair (nil for ranked samples).
    public var degradation: Degradation?
    /// The strengths of the two sides (0 for ground truth).
    public var strengths: (preferred: Float, rejected: Float)
    /// The aspect heads this pair trains besides the overall score.
    public var aspects: [Aspect]

    public init(preferred: PerformanceWindow, rejected: PerformanceWindow, kind: Kind, degradation: Degradation?,
                strengths: (preferred: Float, rejected: Float), aspects: [Aspect]) {
        self.preferred = preferred
        self.rejected = rejected
        self.kind = kind
        self.degradation = degradation
        self.strengths = strengths
        self.aspects = aspects
    }
}

/// How preference pairs are drawn from windows.
public struct PairSettings: Sendable, Equatable, Codable {
    /// Degradations used, drawn uniformly.
    public var degradations: [Degradation] = Degradation.allCases
    /// Fraction of ground-truth-over-degraded pairs; the rest are weaker-over-stronger.
    public var realFraction: Float = 0.7
    /// Strengths are drawn uniformly from [minStrength, 1].
    public var minStrength: Float = 0.15
    /// Weaker-over-stronger pairs differ by at least this much strength.
    public var minGap: Float = 0.25
    public var degradation = DegradationSettings()
    public init() {}
}

public enum PreferencePairs {
    /// A pair drawn for `window`: a degradation, one or two strengths and the damage, all from
    /// `generator`; `donor` (a window of another clip with the same shape) gives swapped audio.
    public static func sample(window: PerformanceWindow, donor: PerformanceWindow, settings: PairSettings,
                              statistics: MotionStatistics, generator: Generator) -> PreferencePair {
        ensure(!settings.degradations.isEmpty, "PreferencePairs.sample: no degradations")
        let kind = settings.degradations[generator.nextInt(settings.degradations.count)]
        let realPair = Float(generator.nextUniform()) < settings.realFraction
        let lo = settings.minStrength
        func strength(_ from: Float) -> Float { from + Float(generator.nextUniform()) * (1 - from) }
        let damageSeed = UInt64(generator.nextInt(1 << 53))
        func degrade(_ s: Float) -> PerformanceWindow {
            // Both sides of a weaker-over-stronger pair reuse the same draws.
            let g = Generator(seed: damageSeed)
            return kind.apply(to: window, strength: s, generator: g, statistics: statistics,
                              settings: settings.degradation, donor: donor)
        }
        if realPair {
            let s = strength(lo)
            return PreferencePair(preferred: window.with(motion: window.motion), rejected: degrade(s), kind: .realOverDegraded,
                                  degradation: kind, strengths: (0, s), aspects: [kind.aspect])
        }
        let gap = min(settings.minGap, 1 - lo)
        let weak = lo + Float(generator.nextUniform()) * (1 - gap - lo)
        let strong = weak + gap + Float(generator.nextUniform()) * (1 - weak - gap)
        return PreferencePair(preferred: degrade(weak), rejected: degrade(strong), kind: .weakerOverStronger,
                              degradation: kind, strengths: (weak, strong), aspects: [kind.aspect])
    }

    /// Pairs among candidate performances of the same window (e.g. samples of a motion model),
    /// ranked by a ground-truth metric (higher is better): every two candidates whose metrics
    /// differ by at least `minimumGap`, the better one preferred. `aspects` names the heads the
    /// metric speaks for (e.g. lip-sync → audio alignment); empty trains only the overall score.
    public static func ranked(candidates: [PerformanceWindow], metric: [Float], minimumGap: Float,
                              aspects: [Aspect] = []) -> [PreferencePair] {
        ensure(candidates.count == metric.count, "PreferencePairs.ranked: \(candidates.count) candidates, \(metric.count) metrics")
        var pairs: [PreferencePair] = []
        for i in 0..<candidates.count {
            for j in (i + 1)..<max(i + 1, candidates.count) where abs(metric[i] - metric[j]) >= minimumGap {
                let (a, b) = metric[i] > metric[j] ? (i, j) : (j, i)
                pairs.append(PreferencePair(preferred: candidates[a], rejected: candidates[b], kind: .rankedSamples,
                                            degradation: nil, strengths: (0, 0), aspects: aspects))
            }
        }
        return pairs
    }
}

/// A batch of pairs as model input: the `P` preferred windows then the `P` rejected ones; a
/// mask `[P, 4]` saying which score columns each pair trains (column 0, overall, always; the
/// columns of the pair's aspects); and the invariance mask `[P, 4]`: the aspect columns a pair
/// with aspects does not train, which should not tell its two sides apart.
public struct PreferenceBatch {
    public let input: RewardInput
    public let mask: Tensor
    public let invarianceMask: Tensor
    public let count: Int

    public init(_ pairs: [PreferencePair]) {
        precondition(!pairs.isEmpty, "PreferenceBatch: no pairs")
        input = RewardInput(pairs.map(\.preferred) + pairs.map(\.rejected))
        var m = [Float](repeating: 0, count: pairs.count * 4)
        var inv = [Float](repeating: 0, count: pairs.count * 4)
        for (i, p) in pairs.enumerated() {
            m[i * 4] = 1
            for a in p.aspects { m[i * 4 + a.column] = 1 }
            if !p.aspects.isEmpty {
                for a in Aspect.allCases where !p.aspects.contains(a) { inv[i * 4 + a.column] = 1 }
            }
        }
        mask = Tensor(m, shape: [pairs.count, 4])
        invarianceMask = Tensor(inv, shape: [pairs.count, 4])
        count = pairs.count
    }
}

/// Bradley–Terry loss: mean over pairs of −log σ(r(a) − r(b)), a preferred over b.
public func bradleyTerryLoss(preferred: Tensor, rejected: Tensor) -> Tensor {
    ensure(preferred.shape == rejected.shape, "bradleyTerryLoss: shapes \(preferred.shape) and \(rejected.shape)")
    return -(preferred - rejected).logSigmoid().mean()
}

/// Weights of the reward model's training loss.
public struct RewardLossWeights: Sendable, Equatable, Codable {
    /// Each aspect head's Bradley–Terry loss.
    public var aspect: Float = 1
    /// Each aspect head's invariance to the other aspects' pairs.
    public var invariance: Float = 0.1
    /// The mean squared score.
    public var scoreL2: Float = 1e-3
    public init(aspect: Float = 1, invariance: Float = 0.1, scoreL2: Float = 1e-3) {
        self.aspect = aspect
        self.invariance = invariance
        self.scoreL2 = scoreL2
    }
}

/// The reward model's training loss from scores `[2P, 4]` (preferred rows first), the pair mask
/// and the invariance mask (`PreferenceBatch`), with m = r(preferred) − r(rejected) per column:
///
/// - the Bradley–Terry loss −log σ(m) of the overall column, averaged over every pair;
/// - `weights.aspect` × Σ over aspect columns of −log σ(m) averaged over the pairs that train
///   the column (columns without such pairs add nothing);
/// - `weights.invariance` × Σ over aspect columns of m² averaged over the pairs of *other*
///   aspects: an aspect head should not react to the other aspects' degradations, which is what
///   makes the heads specialise (their shared trunk otherwise carries every kind of damage to
///   every head);
/// - `weights.scoreL2` × the mean squared score (Bradley–Terry sees only differences; this keeps
///   scores near 0).
public func rewardPreferenceLoss(scores: Tensor, mask: Tensor, invarianceMask: Tensor? = nil,
                                 weights: RewardLossWeights = RewardLossWeights()) -> Tensor {
    let p = mask.shape[0]
    ensure(scores.shape == [2 * p, 4] && mask.shape == [p, 4], "rewardPreferenceLoss: scores \(scores.shape), mask \(mask.shape)")
    let margin = scores.slice(dim: 0, start: 0, end: p) - scores.slice(dim: 0, start: p, end: 2 * p)
    let perPair = -margin.logSigmoid() * mask                     // [P, 4]
    let counts = mask.sum(axes: [0]).toArray()
    let columnWeights = counts.enumerated().map { c, n in n > 0 ? (c == 0 ? 1 : weights.aspect) / n : 0 }
    var loss = (perPair * Tensor(columnWeights, shape: [1, 4])).sum()
    if let invarianceMask, weights.invariance > 0 {
        ensure(invarianceMask.shape == [p, 4], "rewardPreferenceLoss: invariance mask \(invarianceMask.shape)")
        let invCounts = invarianceMask.sum(axes: [0]).toArray()
        let invWeights = invCounts.map { $0 > 0 ? weights.invariance / $0 : 0 }
        loss = loss + (margin.square() * invarianceMask * Tensor(invWeights, shape: [1, 4])).sum()
    }
    if weights.scoreL2 > 0 { loss = loss + scores.square().mean() * weights.scoreL2 }
    return loss
}
